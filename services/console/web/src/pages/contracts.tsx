import { type FormEvent, useState } from "react";
import type { CanIDeployResponse, ListContractsResponse } from "#gen/accord/console/v1/console_pb.js";
import { Empty, ErrorBox, QueryView } from "../components/states.tsx";
import { formatTime } from "../format.ts";
import type { Clients } from "../rpc.ts";
import { useQuery } from "../use-query.ts";

export function ContractsPage({ clients }: { clients: Clients }) {
  const contracts = useQuery((signal) => clients.console.listContracts({}, { signal }), []);
  return (
    <section aria-labelledby="contracts-title">
      <h1 id="contracts-title">Contracts</h1>
      <QueryView query={contracts} what="the contracts">
        {(answer) => (
          <>
            {answer.pacticipants.length === 0 ? (
              <Empty>The Pact Broker knows no pacticipant yet (nothing was published).</Empty>
            ) : (
              <table>
                <caption className="sr-only">Pacticipants and their deployed versions</caption>
                <thead>
                  <tr>
                    <th scope="col">Pacticipant</th>
                    <th scope="col">Latest version</th>
                    {answer.environments.map((env) => (
                      <th scope="col" key={env}>
                        Deployed to {env}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {answer.pacticipants.map((p) => (
                    <tr key={p.name} data-pacticipant={p.name}>
                      <th scope="row">{p.name}</th>
                      <td>
                        <code>{p.latestVersion || "–"}</code>
                      </td>
                      {answer.environments.map((env) => {
                        const deployed = p.deployments.find((d) => d.environment === env);
                        return (
                          <td key={env}>
                            {deployed ? (
                              <>
                                <code>{deployed.version}</code>
                                <br />
                                <small>{formatTime(deployed.deployedAt)}</small>
                              </>
                            ) : (
                              "–"
                            )}
                          </td>
                        );
                      })}
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            <CanIDeploy clients={clients} contracts={answer} />
          </>
        )}
      </QueryView>
    </section>
  );
}

function CanIDeploy({ clients, contracts }: { clients: Clients; contracts: ListContractsResponse }) {
  const first = contracts.pacticipants[0];
  const [pacticipant, setPacticipant] = useState(first?.name ?? "");
  const [version, setVersion] = useState(first?.latestVersion ?? "");
  const [environment, setEnvironment] = useState(contracts.environments[0] ?? "production");
  const [answer, setAnswer] = useState<
    | { status: "idle" }
    | { status: "asking" }
    | { status: "done"; response: CanIDeployResponse }
    | { status: "error"; error: unknown }
  >({ status: "idle" });

  const ask = async (event: FormEvent) => {
    event.preventDefault();
    setAnswer({ status: "asking" });
    try {
      const response = await clients.console.canIDeploy({
        pacticipant,
        version: version.trim(),
        environment,
      });
      setAnswer({ status: "done", response });
    } catch (error) {
      setAnswer({ status: "error", error });
    }
  };

  return (
    <section aria-labelledby="can-i-deploy-title">
      <h2 id="can-i-deploy-title">Can I deploy?</h2>
      <form className="search" onSubmit={ask}>
        <label>
          Pacticipant
          <select
            value={pacticipant}
            onChange={(e) => {
              setPacticipant(e.target.value);
              setVersion(contracts.pacticipants.find((p) => p.name === e.target.value)?.latestVersion ?? "");
            }}
          >
            {contracts.pacticipants.map((p) => (
              <option key={p.name} value={p.name}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Version
          <input value={version} required onChange={(e) => setVersion(e.target.value)} />
        </label>
        {contracts.environments.length > 0 ? (
          <label>
            Environment
            <select value={environment} onChange={(e) => setEnvironment(e.target.value)}>
              {contracts.environments.map((env) => (
                <option key={env} value={env}>
                  {env}
                </option>
              ))}
            </select>
          </label>
        ) : (
          <label>
            Environment
            <input value={environment} required onChange={(e) => setEnvironment(e.target.value)} />
          </label>
        )}
        <button type="submit" disabled={answer.status === "asking" || !pacticipant}>
          Ask the broker
        </button>
      </form>
      {answer.status === "asking" && (
        <p className="state loading" role="status">
          Asking the Pact Broker…
        </p>
      )}
      {answer.status === "error" && <ErrorBox title="The broker could not answer:" error={answer.error} />}
      {answer.status === "done" && (
        <div role="status" className={`verdict ${answer.response.deployable ? "ok" : "bad"}`}>
          <p>
            <strong>{answer.response.deployable ? "Yes, it may be deployed." : "No, do not deploy."}</strong>{" "}
            {answer.response.reason}
          </p>
          {answer.response.rows.length > 0 && (
            <table>
              <thead>
                <tr>
                  <th scope="col">Consumer</th>
                  <th scope="col">Version</th>
                  <th scope="col">Provider</th>
                  <th scope="col">Version</th>
                  <th scope="col">Verified</th>
                </tr>
              </thead>
              <tbody>
                {answer.response.rows.map((r) => (
                  <tr key={`${r.consumer}@${r.consumerVersion}/${r.provider}@${r.providerVersion}`}>
                    <td>{r.consumer}</td>
                    <td>
                      <code>{r.consumerVersion}</code>
                    </td>
                    <td>{r.provider}</td>
                    <td>
                      <code>{r.providerVersion || "–"}</code>
                    </td>
                    <td>{r.verified === undefined ? "not verified" : r.verified ? "passed" : "failed"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
    </section>
  );
}
