/** Calls better-auth's HTTP endpoints (/api/auth/*); answers with the message to show on failure. */
export async function authPost(path: string, body: unknown): Promise<{ ok: true } | { ok: false; message: string }> {
  const response = await fetch(`/api/auth${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-ballast-client': 'web' },
    body: JSON.stringify(body),
  });
  if (response.ok) return { ok: true };
  if (response.status === 429) return { ok: false, message: 'Too many attempts. Wait a minute and try again.' };
  const data: unknown = await response.json().catch(() => null);
  const message =
    typeof data === 'object' && data !== null && 'message' in data && typeof data.message === 'string'
      ? data.message
      : `Request failed (${response.status})`;
  return { ok: false, message };
}
