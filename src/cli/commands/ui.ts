import { spawn } from "node:child_process";
import type { Command } from "commander";
import { CrewstateError, quote } from "../../errors.js";
import { storeUrlFrom } from "../../stores/open.js";
import { startUi } from "../../ui/server.js";

export function registerUi(program: Command): void {
  program
    .command("ui")
    .description("serve a dashboard of the store's runs on this machine (stop with Ctrl-C)")
    .option("--store <url>", "where state lives")
    .option("--port <n>", "port to listen on (0: any free port)", "0")
    .option("--host <address>", "address to listen on; anything but 127.0.0.1 makes the dashboard reachable from other machines", "127.0.0.1")
    .option("--open", "open the dashboard in the default browser")
    .action(async (options: { store?: string; port: string; host: string; open?: boolean }) => {
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CrewstateError("INVALID_INPUT", `--port must be a whole number from 0 to 65535, got ${quote(options.port)}`);
      const ui = await startUi({ store: storeUrlFrom(options.store), port, host: options.host });
      process.stdout.write(`crewstate ui: ${ui.url}\n`);
      if (options.host !== "127.0.0.1") {
        process.stderr.write(`crewstate ui: warning: listening on ${options.host}, not 127.0.0.1: anyone who can reach this address and has the token can change runs\n`);
      }
      if (options.open) openBrowser(ui.url);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await ui.close();
    });
}

function openBrowser(url: string): void {
  const command = process.platform === "darwin" ? "open" : process.platform === "win32" ? "explorer" : "xdg-open";
  const child = spawn(command, [url], { stdio: "ignore", detached: true });
  child.on("error", () => process.stderr.write(`crewstate ui: could not open a browser (${command}); open the URL above yourself\n`));
  child.unref();
}
