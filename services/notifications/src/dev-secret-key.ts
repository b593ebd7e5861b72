/**
 * The development key that seals webhook secrets (NOTIFICATIONS_SECRET_KEY)
 * on a developer's machine and in tests: set by scripts/services.sh (same
 * value) and the test platforms, never a default of the service itself. A
 * real deployment takes its own from its secret store.
 */
export const DEV_NOTIFICATIONS_SECRET_KEY = "YWNjb3JkLWRldi1ub3RpZmljYXRpb25zLWtleS0zMmI=";
