/**
 * Prometheus text exposition (SPEC §10): sign-ins by method and outcome, HTTP latency histogram.
 * A few counters and one histogram do not need a library.
 */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class Metrics {
  private readonly signIns = new Map<string, number>();
  private readonly latency = new Map<string, { buckets: number[]; sum: number; count: number }>();
  private readonly gauges = new Map<string, { help: string; read: () => Promise<number> }>();

  /** A gauge read when /metrics is rendered (e.g. from the database). */
  addGauge(name: string, help: string, read: () => Promise<number>): void {
    this.gauges.set(name, { help, read });
  }

  /** The exposition with the gauges read now (a gauge that cannot be read is left out). */
  async collect(): Promise<string> {
    const lines: string[] = [];
    for (const [name, g] of this.gauges) {
      try {
        const value = await g.read();
        lines.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`, `${name} ${value}`);
      } catch {
        // The database is down: /metrics still answers with the counters.
      }
    }
    return this.render() + (lines.length ? `${lines.join("\n")}\n` : "");
  }

  signIn(method: string, outcome: string): void {
    const key = `method="${method}",outcome="${outcome}"`;
    this.signIns.set(key, (this.signIns.get(key) ?? 0) + 1);
  }

  observeHttp(method: string, route: string, status: number, seconds: number): void {
    const key = `method="${method}",route="${route.replace(/"/g, "")}",status="${status}"`;
    let h = this.latency.get(key);
    if (!h) {
      h = { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.latency.set(key, h);
    }
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) h.buckets[i]!++;
    h.sum += seconds;
    h.count++;
  }

  render(): string {
    const lines = [
      "# HELP copilot_sign_ins_total Sign-in attempts by method and outcome.",
      "# TYPE copilot_sign_ins_total counter",
    ];
    for (const [labels, n] of this.signIns) lines.push(`copilot_sign_ins_total{${labels}} ${n}`);
    lines.push(
      "# HELP copilot_http_request_duration_seconds HTTP request latency.",
      "# TYPE copilot_http_request_duration_seconds histogram",
    );
    for (const [labels, h] of this.latency) {
      BUCKETS.forEach((b, i) => {
        lines.push(`copilot_http_request_duration_seconds_bucket{${labels},le="${b}"} ${h.buckets[i]}`);
      });
      lines.push(`copilot_http_request_duration_seconds_bucket{${labels},le="+Inf"} ${h.count}`);
      lines.push(`copilot_http_request_duration_seconds_sum{${labels}} ${h.sum}`);
      lines.push(`copilot_http_request_duration_seconds_count{${labels}} ${h.count}`);
    }
    return `${lines.join("\n")}\n`;
  }
}
