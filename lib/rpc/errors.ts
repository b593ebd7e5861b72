import { Code, ConnectError } from "@connectrpc/connect";
import { isUuid, type ReportViolation } from "../validation.ts";

/**
 * The errors every service's edge validation answers with. Pure apart from
 * building the ConnectError, so domain modules may import the type and the
 * collector.
 */

/** One reason a request is refused, named by its protobuf field path ("lines[0].quantity"). */
export interface FieldViolation {
  field: string;
  message: string;
}

/**
 * A list of violations and the `bad(field, message)` that appends to it, in
 * the shape lib/validation.ts's checks report through.
 */
export function collectViolations(): { violations: FieldViolation[]; bad: ReportViolation } {
  const violations: FieldViolation[] = [];
  const bad: ReportViolation = (field, message) => {
    violations.push({ field, message });
  };
  return { violations, bad };
}

/**
 * One InvalidArgument naming every refused field, in the order found:
 * "lines[0].quantity: must be at least 1; customer_email: is required".
 */
export function invalidArgument(violations: readonly FieldViolation[]): ConnectError {
  return new ConnectError(violations.map((v) => `${v.field}: ${v.message}`).join("; "), Code.InvalidArgument);
}

/** Throws InvalidArgument "<field>: must be a UUID" unless value is one (an empty value is not). */
export function requireUuid(value: string, field: string): void {
  if (!isUuid(value)) throw invalidArgument([{ field, message: "must be a UUID" }]);
}
