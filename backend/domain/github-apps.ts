/**
 * Where GitHub delivers an app's pushes. The app's name rides in the query: GitHub refuses a second
 * hook with the same URL on one repository, and two apps may deploy two branches of one repository.
 */
export function webhookUrl(publicUrl: URL, appName: string): string {
  const url = new URL("/api/v1/webhooks/github", publicUrl);
  url.searchParams.set("app", appName);
  return url.toString();
}

export function splitRepo(fullName: string): { owner: string; repo: string } {
  const [owner = "", repo = ""] = fullName.split("/");
  return { owner, repo };
}
