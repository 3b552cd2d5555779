/**
 * The {@code lokr} command line ({@code java -jar lokr-cli.jar}): {@link dev.lokr.cli.LokrCli} with
 * the subcommands {@code merge} (bake an adapter into base weights) and {@code inspect} (describe an
 * adapter file). Exit codes: 0 ok, 1 bad input, 2 usage error.
 */
package dev.lokr.cli;
