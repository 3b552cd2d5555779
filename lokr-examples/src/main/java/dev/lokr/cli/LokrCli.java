package dev.lokr.cli;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/**
 * The {@code lokr} command line. Subcommands are listed in the {@code subcommands} attribute; add
 * new ones there.
 *
 * <p>Exit codes: 0 success; 1 bad input (a one-line reason on stderr, the stack trace only with
 * {@code --verbose}); 2 usage error (the message and the usage help on stderr).
 */
@Command(
        name = "lokr",
        mixinStandardHelpOptions = true,
        version = "lokr 0.1.0",
        description =
                "LoKR (Kronecker adapter) tools: merge adapters into base weights, inspect adapter files.",
        subcommands = {
            MergeCommand.class,
            InspectCommand.class,
            DemoCommand.class,
            MemoryReportCommand.class,
            CommandLine.HelpCommand.class
        })
public final class LokrCli implements Runnable {

    /** Exit code for bad input. */
    public static final int EXIT_BAD_INPUT = 1;

    /** Exit code for a usage error. */
    public static final int EXIT_USAGE = 2;

    @Option(
            names = "--verbose",
            scope = ScopeType.INHERIT,
            description = "Print stack traces of errors.")
    boolean verbose;

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    /** Without a subcommand: print the usage and fail as a usage error. */
    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a subcommand is required");
    }

    /**
     * A configured command line: exit codes and error handlers as the class describes.
     *
     * @return a new command line for {@code new LokrCli()}
     */
    public static CommandLine commandLine() {
        LokrCli root = new LokrCli();
        CommandLine cl = new CommandLine(root);
        cl.setExecutionExceptionHandler(
                (ex, line, parseResult) -> {
                    PrintWriter err = line.getErr();
                    String msg =
                            ex.getMessage() == null
                                    ? ex.getClass().getSimpleName()
                                    : ex.getMessage();
                    if (ex instanceof java.nio.file.NoSuchFileException) {
                        msg = "no such file: " + msg;
                    } else if (ex instanceof java.nio.file.AccessDeniedException) {
                        msg = "permission denied: " + msg;
                    }
                    err.println("lokr: error: " + msg.replace('\n', ' '));
                    if (root.verbose) {
                        ex.printStackTrace(err);
                    }
                    err.flush();
                    return EXIT_BAD_INPUT;
                });
        cl.setParameterExceptionHandler(
                (ex, args) -> {
                    CommandLine line = ex.getCommandLine();
                    PrintWriter err = line.getErr();
                    err.println("lokr: " + ex.getMessage());
                    line.usage(err);
                    err.flush();
                    return EXIT_USAGE;
                });
        return cl;
    }

    /**
     * Runs the command line and exits with its code.
     *
     * @param args the arguments
     */
    public static void main(String[] args) {
        // ND4J logs its backend banner at INFO on stderr; keep stderr for errors unless the user
        // asks.
        if (System.getProperty("org.slf4j.simpleLogger.log.org.nd4j") == null) {
            System.setProperty("org.slf4j.simpleLogger.log.org.nd4j", "warn");
        }
        System.exit(commandLine().execute(args));
    }
}
