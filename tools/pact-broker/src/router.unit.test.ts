import { describe, expect, expectTypeOf, it } from "vitest";
import { HttpError, ok } from "./http-util.ts";
import { createRouter, type PathParams, queryOf, type RequestInfo } from "./router.ts";

// The typed router: parameter names come from the pattern at compile time;
// matching splits before decoding, HEAD is GET, a known path with another
// method is "method" (405), an unknown one undefined (404).

const info = (search = ""): RequestInfo => {
  const url = new URL(`http://broker${search}`);
  return { url, query: queryOf(url.searchParams), base: "http://broker", body: async () => ({}) };
};

describe("router", () => {
  it("infers the parameters of a pattern", () => {
    expectTypeOf<PathParams<"/pacticipants/:pacticipant/versions/:version">>().toEqualTypeOf<{
      readonly pacticipant: string;
      readonly version: string;
    }>();
    expectTypeOf<keyof PathParams<"/matrix">>().toEqualTypeOf<never>();
    createRouter().get("/pacticipants/:pacticipant", async ({ params }) => {
      // @ts-expect-error: the pattern has no :version
      void params.version;
      return ok(params.pacticipant);
    });
  });

  it("decodes each segment after splitting, so an encoded slash stays in the name", async () => {
    const router = createRouter().get(
      "/pacticipants/:pacticipant/branches/:branch/latest-version",
      async ({ params }) => ok(params),
    );
    const found = router.match("GET", "/pacticipants/web/branches/feat%2Fx/latest-version");
    expect(typeof found).toBe("function");
    if (typeof found !== "function") return;
    expect((await found(info())).body).toEqual({ pacticipant: "web", branch: "feat/x" });
  });

  it("answers HEAD with the GET route, 405 for another method, 404 for an unknown path", () => {
    const router = createRouter()
      .get("/environments/:uuid", async () => ok("get"))
      .put("/environments/:uuid", async () => ok("put"));
    expect(typeof router.match("HEAD", "/environments/e1")).toBe("function");
    expect(router.match("DELETE", "/environments/e1")).toBe("method");
    expect(router.match("GET", "/environments")).toBeUndefined();
    expect(router.match("GET", "/environments/%E0%A4%A")).toBeUndefined();
  });

  it("reads query parameters: absent, empty, required", () => {
    const { query } = info("/can-i-deploy?pacticipant=web&version=");
    expect(query.get("pacticipant")).toBe("web");
    expect(query.get("version")).toBe("");
    expect(query.get("branch")).toBeUndefined();
    expect(query.required("pacticipant")).toBe("web");
    expect(() => query.required("environment")).toThrow(HttpError);
    expect(() => query.required("version")).toThrow(HttpError);
  });
});
