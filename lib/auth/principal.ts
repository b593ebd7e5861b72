import {
  Code,
  ConnectError,
  type ContextValues,
  createContextKey,
  type HandlerContext,
} from "@connectrpc/connect";

/** The roles a person can hold in the realm (infra/keycloak/accord-realm.json). */
export const USER_ROLES = ["customer", "partner", "ops", "release"] as const;
export type UserRole = (typeof USER_ROLES)[number];

/** The identities of Accord's own processes: one confidential client each in the realm. */
export const SERVICE_IDENTITIES = [
  "orders",
  "inventory",
  "payments",
  "shipping",
  "notifications",
  "orchestrator",
  "catalog",
  "carrier",
] as const;
export type ServiceIdentity = (typeof SERVICE_IDENTITIES)[number];

/**
 * Who is calling, as proven by a verified token. `subject` is the token's
 * `sub`: for a person it is their user id, which is also their customer or
 * partner id; a service is named by its client id.
 */
export type Principal =
  | { kind: "user"; subject: string; roles: ReadonlySet<UserRole> }
  | { kind: "service"; subject: string; service: ServiceIdentity }
  | { kind: "anonymous" };

/** Where the authorization interceptor leaves the caller for the handler. */
export const principalKey = createContextKey<Principal>({ kind: "anonymous" }, { description: "caller" });

export function principalOf(ctx: HandlerContext | { values: ContextValues }): Principal {
  return ctx.values.get(principalKey);
}

export function hasRole(principal: Principal, role: UserRole): boolean {
  return principal.kind === "user" && principal.roles.has(role);
}

export function isService(principal: Principal, service: ServiceIdentity): boolean {
  return principal.kind === "service" && principal.service === service;
}

/**
 * Whose resources a call may touch: everything (ops, or a service the table
 * lets in), or only those owned by the calling person. Handlers narrow their
 * queries with it, so another owner's resource is simply not found.
 */
export type OwnerScope = { all: true } | { all: false; ownerId: string };

/**
 * The owner scope of a call: `owners` are the roles whose holders see only
 * their own (customer, partner); anyone else the table let in sees all.
 */
export function ownerScope(principal: Principal, owners: readonly UserRole[]): OwnerScope {
  if (principal.kind === "anonymous") {
    // The table never lets an anonymous caller reach an owner-scoped method;
    // failing closed here keeps a mistaken table entry from leaking everything.
    throw new ConnectError("authentication required", Code.Unauthenticated);
  }
  if (
    principal.kind === "user" &&
    !principal.roles.has("ops") &&
    owners.some((r) => principal.roles.has(r))
  ) {
    return { all: false, ownerId: principal.subject };
  }
  return { all: true };
}

/** Whether a scope may see a resource owned by ownerId. */
export function inScope(scope: OwnerScope, ownerId: string): boolean {
  return scope.all || scope.ownerId === ownerId;
}
