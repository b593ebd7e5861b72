import type { Store } from "../db/store.ts";
import { BrokerData, type Pacticipant, type PactVersion, type Version } from "../domain/model.ts";
import { notFound } from "../http-util.ts";

// What every route module is given, and the lookups whose "not found" is a 404.

export interface Broker {
  store: Store;
  /** The broker's data as one consistent snapshot (one read-only transaction). */
  data(): Promise<BrokerData>;
}

export function createBroker(store: Store): Broker {
  return { store, data: async () => new BrokerData(await store.snapshot()) };
}

/** A record the snapshot's own references promise; its absence is a bug (500), not a 404. */
export function known<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is missing from the snapshot`);
  return value;
}

export function needPacticipant(d: BrokerData, name: string): Pacticipant {
  const p = d.pacticipant(name);
  if (!p) throw notFound(`pacticipant ${name}`);
  return p;
}

export function needVersion(d: BrokerData, name: string, number: string): { p: Pacticipant; v: Version } {
  const p = needPacticipant(d, name);
  const v = d.version(p.id, number);
  if (!v) throw notFound(`version ${number} of ${name}`);
  return { p, v };
}

export function needEnvironment(d: BrokerData, uuid: string) {
  const e = d.s.environments.find((x) => x.uuid === uuid);
  if (!e) throw notFound(`environment ${uuid}`);
  return e;
}

export function pactVersionBySha(
  d: BrokerData,
  provider: string,
  consumer: string,
  sha: string,
): { prov: Pacticipant; cons: Pacticipant; pv: PactVersion } {
  const prov = needPacticipant(d, provider);
  const cons = needPacticipant(d, consumer);
  const pv = d.s.pactVersions.find(
    (x) => x.providerId === prov.id && x.consumerId === cons.id && x.sha === sha,
  );
  if (!pv) throw notFound(`pact version ${sha}`);
  return { prov, cons, pv };
}
