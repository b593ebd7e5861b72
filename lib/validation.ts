import type { Address } from "#gen/accord/common/v1/common_pb.js";

/**
 * Field checks shared by every service's edge validation. Each reports
 * problems through `bad(field, message)` with the proto field path, which the
 * service turns into one Connect InvalidArgument.
 */
export type ReportViolation = (field: string, message: string) => void;

/** The address fields stored with an order or a shipment. */
export type PostalAddress = Omit<Address, "$typeName" | "$unknown">;

export const ADDRESS_FIELD_MAX = 200;
const COUNTRY = /^[A-Z]{2}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID in its 8-4-4-4-12 hex form, either case, any version. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** A required UUID: "is required" when blank, "must be a UUID" when malformed. */
export function checkUuid(value: string, field: string, bad: ReportViolation): boolean {
  if (value.trim() === "") {
    bad(field, "is required");
    return false;
  }
  if (!isUuid(value)) {
    bad(field, "must be a UUID");
    return false;
  }
  return true;
}

/** Required, non-blank text of at most max characters. */
export function checkText(value: string, field: string, max: number, bad: ReportViolation): boolean {
  if (value.trim() === "") {
    bad(field, "is required");
    return false;
  }
  if (value.length > max) {
    bad(field, `must be at most ${max} characters`);
    return false;
  }
  return true;
}

/**
 * A deliverable address: line1, city, postal_code and an ISO 3166-1 alpha-2
 * country_code required, every part at most ADDRESS_FIELD_MAX characters.
 * `path` is the address field's own name ("shipping_address", "address").
 */
export function checkAddress(
  address: Address | undefined,
  path: string,
  bad: ReportViolation,
): PostalAddress | undefined {
  if (!address) {
    bad(path, "is required");
    return undefined;
  }
  let ok = true;
  const fail: ReportViolation = (field, message) => {
    ok = false;
    bad(field, message);
  };
  const required: [keyof PostalAddress, string][] = [
    ["line1", "line1"],
    ["city", "city"],
    ["postalCode", "postal_code"],
    ["countryCode", "country_code"],
  ];
  for (const [key, name] of required) checkText(address[key], `${path}.${name}`, ADDRESS_FIELD_MAX, fail);
  const optional: [keyof PostalAddress, string][] = [
    ["recipientName", "recipient_name"],
    ["line2", "line2"],
    ["region", "region"],
  ];
  for (const [key, name] of optional) {
    if (address[key].length > ADDRESS_FIELD_MAX) {
      fail(`${path}.${name}`, `must be at most ${ADDRESS_FIELD_MAX} characters`);
    }
  }
  if (address.countryCode && !COUNTRY.test(address.countryCode)) {
    fail(`${path}.country_code`, "must be an ISO 3166-1 alpha-2 code such as DE");
  }
  if (!ok) return undefined;
  return {
    recipientName: address.recipientName,
    line1: address.line1,
    line2: address.line2,
    city: address.city,
    region: address.region,
    postalCode: address.postalCode,
    countryCode: address.countryCode,
  };
}
