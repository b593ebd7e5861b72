import type { ConsoleService } from "#gen/accord/console/v1/console_pb.js";
import type { AuthorizationTable } from "#lib/auth/authorization.ts";

/** Who may call each ConsoleService method: the console is for operators. */
export const consoleAuthorization: AuthorizationTable<typeof ConsoleService> = {
  getPlatformHealth: { allow: ["ops"] },
  listContracts: { allow: ["ops"] },
  canIDeploy: { allow: ["ops"] },
};
