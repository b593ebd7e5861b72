import type { AddressObject, ParsedMail } from "mailparser";

/** A received message as GET /messages returns it. */
export interface StoredMessage {
  id: number;
  receivedAt: string;
  /** SMTP envelope (MAIL FROM / RCPT TO): who the message was actually sent to, Bcc included. */
  envelope: { from: string | undefined; to: string[] };
  from: string | undefined;
  to: string[];
  subject: string | undefined;
  text: string | undefined;
  messageId: string | undefined;
  /** Header name (lower case) to raw value; repeated headers are joined with "\n". */
  headers: Record<string, string>;
}

/** In-memory, bounded, oldest dropped first. */
export class MessageStore {
  private messages: StoredMessage[] = [];
  private nextId = 1;

  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }

  add(parsed: ParsedMail, envelope: { from: string | undefined; to: string[] }): StoredMessage {
    const message: StoredMessage = {
      id: this.nextId++,
      receivedAt: new Date().toISOString(),
      envelope,
      from: parsed.from?.text,
      to: addresses(parsed.to),
      subject: parsed.subject,
      text: parsed.text,
      messageId: parsed.messageId,
      headers: headersOf(parsed),
    };
    this.messages.push(message);
    if (this.messages.length > this.max) this.messages.splice(0, this.messages.length - this.max);
    return message;
  }

  /** Messages, oldest first; with `to`, only those addressed to it (header or envelope, any case). */
  list(to?: string): StoredMessage[] {
    if (!to) return [...this.messages];
    const wanted = to.trim().toLowerCase();
    return this.messages.filter(
      (m) =>
        m.to.some((a) => a.toLowerCase() === wanted) || m.envelope.to.some((a) => a.toLowerCase() === wanted),
    );
  }

  clear(): number {
    const n = this.messages.length;
    this.messages = [];
    return n;
  }
}

function addresses(field: AddressObject | AddressObject[] | undefined): string[] {
  const list = field === undefined ? [] : Array.isArray(field) ? field : [field];
  return list.flatMap((group) => group.value.map((a) => a.address).filter((a): a is string => !!a));
}

function headersOf(parsed: ParsedMail): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { key, line } of parsed.headerLines) {
    const colon = line.indexOf(":");
    // Unfold continuation lines (RFC 5322 folding) into one value.
    const value = (colon >= 0 ? line.slice(colon + 1) : line).replace(/\r?\n[ \t]+/g, " ").trim();
    out[key] = out[key] === undefined ? value : `${out[key]}\n${value}`;
  }
  return out;
}
