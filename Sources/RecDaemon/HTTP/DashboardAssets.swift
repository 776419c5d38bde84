/// The dashboard's stylesheet and the console's script, compiled into recd so that the dashboard needs no file
/// beside the binary and nothing from the network.
enum DashboardAssets {
    /// `/assets/dashboard.css`.
    static let css = """
        :root { color-scheme: light; --ink: #1d2430; --muted: #5b6472; --line: #d9dee5; --accent: #4477aa; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--ink); background: #f6f7f9; }
        header { display: flex; gap: 24px; align-items: center; padding: 10px 24px; background: #1d2430; }
        .brand { color: #fff; font-weight: 700; letter-spacing: .02em; }
        nav a { color: #c9d3e0; text-decoration: none; margin-right: 16px; }
        nav a[aria-current=page], nav a:hover { color: #fff; border-bottom: 2px solid #8fb3dd; }
        main { max-width: 1100px; margin: 0 auto; padding: 12px 24px 48px; }
        h1 { font-size: 22px; margin: 16px 0 8px; }
        h2 { font-size: 16px; margin: 20px 0 8px; }
        h2 small { color: var(--muted); font-weight: 400; }
        section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 4px 16px 16px;
          margin: 12px 0; overflow-x: auto; }
        table { border-collapse: collapse; margin: 8px 0; }
        th, td { text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid var(--line);
          font-variant-numeric: tabular-nums; vertical-align: top; }
        th { color: var(--muted); font-weight: 600; }
        code, pre, textarea { font-family: ui-monospace, monospace; font-size: 13px; }
        textarea { width: 100%; padding: 8px; border: 1px solid var(--line); border-radius: 4px; }
        button { margin: 8px 0; padding: 6px 18px; border: 0; border-radius: 4px; background: var(--accent);
          color: #fff; cursor: pointer; }
        pre { background: #fff; border: 1px solid var(--line); border-radius: 4px; padding: 12px; white-space: pre-wrap;
          min-height: 3em; }
        pre.error { border-color: #ee6677; }
        svg { max-width: 100%; height: auto; }
        """

    /// `/assets/console.js`: sends the statement to `/api/query` and shows the answer, indented.
    static let consoleScript = """
        "use strict";
        (function () {
          const form = document.getElementById("console");
          const query = document.getElementById("query");
          const answer = document.getElementById("answer");
          let next = 1;
          form.addEventListener("submit", async function (event) {
            event.preventDefault();
            answer.textContent = "…";
            answer.classList.remove("error");
            try {
              const response = await fetch("/api/query", {
                method: "POST",
                headers: { "Content-Type": "application/json" },
                body: JSON.stringify({ id: next++, q: query.value })
              });
              const body = await response.json();
              answer.textContent = JSON.stringify(body.ok ? body.result : body.error, null, 2);
              if (!body.ok) { answer.classList.add("error"); }
            } catch (error) {
              answer.textContent = String(error);
              answer.classList.add("error");
            }
          });
        })();
        """
}
