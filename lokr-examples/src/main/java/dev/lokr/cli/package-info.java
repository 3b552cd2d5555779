/**
 * The {@code lokr} command line ({@code java -jar lokr-cli.jar}): {@link dev.lokr.cli.LokrCli} with
 * the subcommands {@code merge} (bake an adapter into base weights), {@code inspect} (describe an
 * adapter file), {@code demo} (the README's main job: LoKR against full fine-tuning on a shifted task)
 * and {@code memory-report} (measured peak memory and step time with gradient checkpointing off and
 * on). Exit codes: 0 ok, 1 bad input (one line on stderr; {@code --verbose} for the stack trace),
 * 2 usage error.
 */
package dev.lokr.cli;
