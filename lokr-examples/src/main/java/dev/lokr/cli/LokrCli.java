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
        versionProvider = LokrCli.Version.class,
        description =
                "LoKR (Kronecker adapter) tools: merge adapters into base weights, inspect adapter files, "
                        + "run the fine-tuning demo, measure gradient checkpointing's memory.",
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
                            ex.getMessage() == null || outOfMemory(ex) != null
                                    ? describe(ex)
                                    : ex.getMessage();
                    if (ex instanceof java.nio.file.NoSuchFileException) {
                        msg = "no such file: " + msg;
                    } else if (ex instanceof java.nio.file.AccessDeniedException) {
                        msg = "permission denied: " + msg;
                    }
                    return printError(msg, ex, err, root.verbose);
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

    /** The version from the packaged jar's manifest. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = LokrCli.class.getPackage().getImplementationVersion();
            return new String[] {"lokr " + (v == null ? "(unknown version: not run from the packaged jar)" : v)};
        }
    }

    /**
     * Runs the command line and exits with its code. Errors that picocli does not handle (an
     * {@link OutOfMemoryError}, for one) also end with a one-line reason and exit code 1.
     *
     * @param args the arguments
     */
    public static void main(String[] args) {
        boolean verbose = java.util.Arrays.asList(args).contains("--verbose");
        quietLogs(verbose);
        int code;
        try {
            code = commandLine().execute(args);
        } catch (Throwable t) {
            code = reportUnhandled(t, System.err, verbose);
        }
        System.exit(code);
    }

    /**
     * Reports an error that escaped picocli's handlers: one line, {@code lokr: error: } and {@link #describe}
     * with control and format characters escaped, then the stack trace if {@code verbose}.
     *
     * @param t       the error
     * @param err     where to print
     * @param verbose whether to print the stack trace too
     * @return the exit code, {@link #EXIT_BAD_INPUT}
     */
    static int reportUnhandled(Throwable t, java.io.PrintStream err, boolean verbose) {
        return printError(describe(t), t, new PrintWriter(err), verbose);
    }

    /**
     * Prints {@code lokr: error: } and {@code message} on one line, whatever names from the files it carries
     * (control and format characters escaped), then the stack trace of {@code t} if {@code verbose}.
     *
     * @return the exit code, {@link #EXIT_BAD_INPUT}
     */
    private static int printError(String message, Throwable t, PrintWriter err, boolean verbose) {
        err.println("lokr: error: " + dev.lokr.io.Json.oneLine(message));
        if (verbose) {
            t.printStackTrace(err);
        }
        err.flush();
        return EXIT_BAD_INPUT;
    }

    /**
     * ND4J and DL4J log their banners at INFO and lokr its warnings on stderr; keep stderr for errors
     * (the commands report what they ignore on stdout) unless {@code --verbose} or the user's own
     * {@code org.slf4j.simpleLogger.*} properties ask otherwise.
     */
    static void quietLogs(boolean verbose) {
        for (String framework : new String[] {"org.nd4j", "org.deeplearning4j"}) {
            if (System.getProperty("org.slf4j.simpleLogger.log." + framework) == null) {
                System.setProperty("org.slf4j.simpleLogger.log." + framework, "warn");
            }
        }
        if (!verbose && System.getProperty("org.slf4j.simpleLogger.log.dev.lokr") == null) {
            System.setProperty("org.slf4j.simpleLogger.log.dev.lokr", "error");
        }
    }

    /**
     * One line for an error that escaped a command: its type and message, or what to do about running out of
     * heap (also when the out-of-memory error is the cause of another, such as an
     * {@code ExceptionInInitializerError} while ND4J starts). An error without a message names its root cause.
     *
     * @param t the error
     * @return one line, without line breaks
     */
    public static String describe(Throwable t) {
        OutOfMemoryError oom = outOfMemory(t);
        String text;
        if (oom != null) {
            text = "out of memory (" + oom.getMessage() + "); give the JVM more heap with -Xmx";
        } else {
            Throwable root = t;
            for (int depth = 0; depth < 32 && root.getCause() != null && root.getCause() != root; depth++) {
                root = root.getCause();
            }
            text = t.getClass().getSimpleName() + (t.getMessage() == null ? "" : ": " + t.getMessage());
            if (t.getMessage() == null && root != t) {
                text += " (caused by " + root.getClass().getSimpleName()
                        + (root.getMessage() == null ? "" : ": " + root.getMessage()) + ")";
            }
        }
        return text.replaceAll("[\\r\\n]+", " ");
    }

    /** @return {@code t} or the first of its causes that is an {@link OutOfMemoryError}, or null */
    private static OutOfMemoryError outOfMemory(Throwable t) {
        Throwable c = t;
        for (int depth = 0; depth < 32 && c != null; depth++) {
            if (c instanceof OutOfMemoryError) {
                return (OutOfMemoryError) c;
            }
            c = c.getCause() == c ? null : c.getCause();
        }
        return null;
    }
}
