/** Feature modules that register CLI commands. Imported by the CLI and the server. */
