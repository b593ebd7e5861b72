import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "../observability/logger.ts";
import { type Principal, principalKey, type ServiceIdentity, type UserRole } from "./principal.ts";
import { TokenRejected, type TokenVerifier } from "./verifier.ts";

/**
 * Who may call a method: people by realm role, Accord's own processes by
 * identity ("service:orchestrator"), or "anyone" (no token: health probes).
 */
export type Caller = UserRole | `service:${ServiceIdentity}` | "anyone";

export interface MethodRule {
  allow: readonly Caller[];
  /**
   * What the handler narrows the call to for the callers allowed, e.g.
   * "customer: own orders; ops: all". Enforced in the handler (the table
   * says who gets in, the handler what they see); stated here so the whole
   * policy of a service reads in one place.
   */
  scope?: string;
}

/** One rule for every method of a service: the compiler refuses a table that misses one. */
export type AuthorizationTable<S extends DescService> = {
  readonly [M in keyof S["method"] & string]: MethodRule;
};

/** The tables of every service a process serves, by the service's full name. */
export type AuthorizationTables = ReadonlyMap<string, Readonly<Record<string, MethodRule>>>;

/** The methods of `service` that `table` has no rule for (a runtime check beside the compiler's). */
export function missingRules(service: DescService, table: Readonly<Record<string, MethodRule>>): string[] {
  return service.methods.filter((m) => table[m.localName] === undefined).map((m) => m.name);
}

export function allows(rule: MethodRule, principal: Principal): boolean {
  if (rule.allow.includes("anyone")) return true;
  switch (principal.kind) {
    case "anonymous":
      return false;
    case "service":
      return rule.allow.includes(`service:${principal.service}`);
    case "user":
      return rule.allow.some((caller) => principal.roles.has(caller as UserRole));
  }
}

export interface AuthorizationOptions {
  verifier: TokenVerifier;
  tables: AuthorizationTables;
  logger: Logger;
  /** Counts refusals by reason, for the dashboards (never the token). */
  onDenied?: (reason: string, method: string) => void;
}

/**
 * Authenticates and authorizes every call before anything else reads its
 * input: a method without a rule is refused (fail closed), a method open to
 * "anyone" runs without a token, every other needs a valid bearer token
 * whose caller the rule allows. The caller reaches the handler through
 * principalKey.
 */
export function authorizationInterceptor(options: AuthorizationOptions): Interceptor {
  const { verifier, tables, logger } = options;
  return (next) => async (req) => {
    const path = `${req.service.typeName}/${req.method.name}`;
    const rule = tables.get(req.service.typeName)?.[req.method.localName];
    if (rule === undefined) {
      logger.error({ method: path }, "no authorization rule for this method; refusing the call");
      options.onDenied?.("no-rule", path);
      throw new ConnectError(`${req.method.name} is not open to any caller`, Code.PermissionDenied);
    }
    if (rule.allow.includes("anyone")) return next(req);

    let principal: Principal;
    try {
      principal = await verifier.verify(req.header.get("authorization"));
    } catch (error) {
      const reason = error instanceof TokenRejected ? error.reason : "verifier-error";
      // The reason only: nothing of the token itself is logged.
      logger.info({ method: path, reason }, "call refused: unauthenticated");
      options.onDenied?.(reason, path);
      if (error instanceof TokenRejected) {
        if (error.reason === "keys-unavailable") {
          throw new ConnectError("identity provider unreachable; try again", Code.Unavailable);
        }
        throw error;
      }
      throw new ConnectError("invalid bearer token", Code.Unauthenticated);
    }
    if (!allows(rule, principal)) {
      logger.info({ method: path, caller: describe(principal) }, "call refused: permission denied");
      options.onDenied?.("forbidden", path);
      throw new ConnectError(`caller may not call ${req.method.name}`, Code.PermissionDenied);
    }
    req.contextValues.set(principalKey, principal);
    return next(req);
  };
}

/** A principal as a log field: kind and role or service, never the token. */
export function describe(principal: Principal): string {
  switch (principal.kind) {
    case "anonymous":
      return "anonymous";
    case "service":
      return `service:${principal.service}`;
    case "user":
      return `user:${[...principal.roles].join("+") || "no-role"}`;
  }
}
