import type { DeadLetterService } from "#gen/accord/notifications/v1/dead_letters_pb.js";
import type { AuthorizationTable } from "#lib/auth/authorization.ts";

/** Who may call each DeadLetterService method: operators only (a replay re-sends emails and webhooks). */
export const deadLetterAuthorization: AuthorizationTable<typeof DeadLetterService> = {
  listDeadLetterQueues: { allow: ["ops"] },
  listDeadLetters: { allow: ["ops"], scope: "every queue (what is shown carries no personal data)" },
  replayDeadLetters: { allow: ["ops"] },
};
