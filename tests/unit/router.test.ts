import { describe, expect, test } from "bun:test";
import { Router } from "../../backend/http/router.ts";

const ok = () => new Response("ok");

describe("router", () => {
  const r = new Router()
    .get("/api/v1/apps", { auth: "viewer" }, ok)
    .post("/api/v1/apps", { auth: "deployer" }, ok)
    .get("/api/v1/apps/:app", { auth: "viewer" }, ok)
    .get("/api/v1/apps/:app/releases", { auth: "viewer" }, ok);

  test("static and parameter segments", () => {
    const m = r.match("GET", "/api/v1/apps/my-app/releases");
    expect(m.route?.pattern).toBe("/api/v1/apps/:app/releases");
    expect(m.route && "params" in m ? m.params : null).toEqual({ app: "my-app" });
  });

  test("method decides between routes of one path; HEAD uses GET", () => {
    expect(r.match("POST", "/api/v1/apps").route?.auth).toBe("deployer");
    expect(r.match("HEAD", "/api/v1/apps").route?.method).toBe("GET");
  });

  test("a known path with another method lists what is allowed", () => {
    const m = r.match("DELETE", "/api/v1/apps");
    expect(m.route).toBeNull();
    expect("allowed" in m ? m.allowed : []).toEqual(["GET", "POST"]);
  });

  test("unknown paths and bad encodings do not match", () => {
    expect(r.match("GET", "/api/v1/nothing").route).toBeNull();
    expect(r.match("GET", "/api/v1/apps/%E0%A4%A").route).toBeNull();
  });

  test("trailing slashes are ignored; params are decoded", () => {
    const m = r.match("GET", "/api/v1/apps/a%20b/");
    expect(m.route && "params" in m ? m.params.app : null).toBe("a b");
  });
});
