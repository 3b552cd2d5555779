package dev.lokr.cli;

import dev.lokr.io.AdapterMerge;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code lokr merge}: bakes an adapter into base weights with {@link AdapterMerge#mergeFile}. */
@Command(
        name = "merge",
        mixinStandardHelpOptions = true,
        versionProvider = LokrCli.Version.class,
        description = "Merge a LoKR adapter (LyCORIS or PEFT layout) into a base safetensors file.")
final class MergeCommand implements Callable<Integer> {

    @Option(
            names = "--base",
            required = true,
            paramLabel = "FILE",
            description = "Base model .safetensors.")
    Path base;

    @Option(
            names = "--adapter",
            required = true,
            paramLabel = "FILE",
            description = "Adapter .safetensors.")
    Path adapter;

    @Option(
            names = "--out",
            required = true,
            paramLabel = "FILE",
            description = "Merged output .safetensors.")
    Path out;

    @Option(
            names = "--multiplier",
            defaultValue = "1.0",
            paramLabel = "M",
            description = "Adapter strength (default: ${DEFAULT-VALUE}).")
    double multiplier;

    @Option(
            names = "--only-modules",
            defaultValue = "",
            paramLabel = "PREFIX",
            description = "Merge only the adapter modules whose names start with PREFIX (e.g. lora_unet_, "
                    + "lora_te1_), for a file holding one of the adapter's models; the others are reported. A PEFT "
                    + "adapter's saved modules replace base tensors only when their paths start with PREFIX.")
    String modulePrefix;

    @Option(
            names = "--base-prefix",
            defaultValue = "",
            paramLabel = "PREFIX",
            description = "Match only the base tensors whose names start with PREFIX, by the rest of the name "
                    + "(e.g. model.diffusion_model. in a single-file checkpoint); all tensors are still written.")
    String basePrefix;

    @Option(
            names = "--keep-base-modules",
            description = "Keep the base's tensors where a PEFT adapter saves whole modules (modules_to_save, "
                    + "saved embeddings); by default they replace the base's, as PEFT's merge_and_unload does.")
    boolean keepBaseModules;

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (!Double.isFinite(multiplier)) {
            throw new CommandLine.ParameterException(
                    spec.commandLine(), "--multiplier must be finite, got " + multiplier);
        }
        List<AdapterMerge.Merged> merged =
                AdapterMerge.mergeFile(
                        base,
                        adapter,
                        out,
                        multiplier,
                        new AdapterMerge.Scope(modulePrefix, basePrefix),
                        keepBaseModules ? AdapterMerge.SavedModules.KEEP : AdapterMerge.SavedModules.REPLACE,
                        line -> spec.commandLine().getOut().println(line));
        spec.commandLine()
                .getOut()
                .println("wrote " + out + " (" + merged.size() + (merged.size() == 1 ? " module" : " modules") + " merged)");
        spec.commandLine().getOut().flush();
        return 0;
    }
}
