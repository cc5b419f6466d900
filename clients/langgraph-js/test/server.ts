// Starts a real `logbook serve` on a temporary data directory for the tests.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const LOGBOOK_BIN = process.env.LOGBOOK_BIN ?? resolve(dirname(fileURLToPath(import.meta.url)), "../../../build/logbook");

export class LogbookServer {
  readonly dataDir: string;
  url = "";
  adminKey = "";
  private child?: ChildProcess;
  private port = 0;

  constructor(private readonly extraArgs: string[] = []) {
    this.dataDir = mkdtempSync(join(tmpdir(), "logbook-langgraph-"));
  }

  /** Starts the server (again, on the same data directory and port after the first start). */
  async start(): Promise<void> {
    const listen = `127.0.0.1:${this.port}`;
    const child = spawn(
      LOGBOOK_BIN,
      ["--data-dir", join(this.dataDir, "data"), "serve", "--listen", listen, "--keys-file", join(this.dataDir, "keys.json"), ...this.extraArgs],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child = child;
    let out = "";
    let err = "";
    await new Promise<void>((resolveStart, reject) => {
      const timer = setTimeout(() => reject(new Error(`logbook serve did not start: ${err}`)), 30000);
      const check = () => {
        const key = out.match(/^(lbk_\S+)$/m);
        if (key && !this.adminKey) this.adminKey = key[1];
        const port = err.match(/\(port (\d+)\)/);
        if (port && this.adminKey) {
          this.port = Number(port[1]);
          this.url = `http://127.0.0.1:${this.port}`;
          clearTimeout(timer);
          resolveStart();
        }
      };
      child.stdout!.on("data", (d) => {
        out += d;
        check();
      });
      child.stderr!.on("data", (d) => {
        err += d;
        check();
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`logbook serve exited with ${code}: ${err}`));
      });
    });
  }

  /** Kills the server with SIGKILL: no shutdown, no flush. */
  async kill(): Promise<void> {
    await this.signal("SIGKILL");
  }

  async stop(): Promise<void> {
    await this.signal("SIGTERM");
  }

  cleanup(): void {
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill(sig);
    await exited;
    this.child = undefined;
  }
}
