// JSON over fetch with the session cookie and Django's CSRF token.
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || `request failed (${status})`);
    this.status = status;
    this.body = body || {};
  }
}

export function makeApi(csrfToken) {
  async function call(method, url, body) {
    const res = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }
  return {
    get: (url) => call("GET", url),
    post: (url, body) => call("POST", url, body ?? {}),
    put: (url, body) => call("PUT", url, body),
  };
}
