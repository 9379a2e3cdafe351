/** Feature modules that register CLI commands. Imported by the CLI and the server. */
import "./sso/cli.js";
import "./provisioning/cli.js";
