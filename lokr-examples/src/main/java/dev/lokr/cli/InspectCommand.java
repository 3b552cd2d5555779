package dev.lokr.cli;

import dev.lokr.io.AdapterFile;
import dev.lokr.io.Json;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code lokr inspect}: describes an adapter file's modules. */
@Command(
        name = "inspect",
        mixinStandardHelpOptions = true,
        versionProvider = LokrCli.Version.class,
        description =
                "Describe a LoKR adapter file: layout, per-module factor shapes, rank, alpha, scale, options.")
final class InspectCommand implements Callable<Integer> {

    @Parameters(
            index = "0",
            paramLabel = "FILE",
            description = "Adapter .safetensors (LyCORIS or PEFT).")
    Path file;

    @Option(names = "--json", description = "Print one JSON object instead of text.")
    boolean json;

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        try (AdapterFile f = AdapterFile.read(file)) {
            List<Object> modules = new ArrayList<>();
            long total = 0;
            for (String m : f.modules()) {
                AdapterFile.ModuleInfo i = f.moduleInfo(m);
                total += i.numParams();
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("name", m);
                Map<String, Object> shapes = new LinkedHashMap<>();
                i.tensors().forEach((k, v) -> shapes.put(k, v));
                o.put("tensors", shapes);
                o.put("w1", i.w1Mode().name());
                o.put("w2", i.w2Mode().name());
                o.put("rank", i.rank());
                o.put("alpha", Double.isNaN(i.alpha()) ? null : i.alpha());
                o.put("scale", i.scale());
                o.put("tucker", i.tucker());
                o.put("decomposeBoth", i.decomposeBoth());
                o.put("dora", i.doraAxis().name());
                o.put("dtype", i.dtype().name());
                o.put("params", i.numParams());
                modules.add(o);
            }
            if (json) {
                Map<String, Object> root = new LinkedHashMap<>();
                root.put("file", file.toString());
                root.put("layout", f.format().name());
                root.put("metadata", f.metadata());
                root.put("modules", modules);
                root.put("moduleCount", modules.size());
                root.put("totalParams", total);
                root.put("otherTensors", f.otherTensors());
                root.put("notes", f.notes());
                out.println(Json.write(root));
            } else {
                out.println(
                        file
                                + ": "
                                + f.format()
                                + " layout, "
                                + modules.size()
                                + (modules.size() == 1 ? " LoKR module, " : " LoKR modules, ")
                                + total
                                + " parameters"
                                + otherTensors(f));
                for (String n : f.notes()) {
                    out.println("  note: " + n);
                }
                for (String m : f.modules()) {
                    AdapterFile.ModuleInfo i = f.moduleInfo(m);
                    StringBuilder sb = new StringBuilder("  ").append(Json.printable(m)).append(':');
                    i.tensors()
                            .forEach((k, v) -> sb.append(' ').append(k).append(Arrays.toString(v)));
                    sb.append(" | rank ")
                            .append(i.rank())
                            .append(", alpha ")
                            .append(Double.isNaN(i.alpha()) ? "-" : String.valueOf(i.alpha()))
                            .append(", scale ")
                            .append(i.scale())
                            .append(", w1 ")
                            .append(i.w1Mode())
                            .append(", w2 ")
                            .append(i.w2Mode());
                    if (i.doraAxis() != dev.lokr.math.DoraAxis.NONE) {
                        sb.append(", DoRA ").append(i.doraAxis());
                    }
                    sb.append(", ")
                            .append(i.dtype())
                            .append(", ")
                            .append(i.numParams())
                            .append(" params");
                    out.println(sb);
                }
            }
            out.flush();
        }
        return 0;
    }

    /** The summary's part about tensors of no LoKR module: none, ignored, or perhaps PEFT saved modules. */
    private static String otherTensors(AdapterFile f) {
        int n = f.otherTensors().size();
        if (n == 0) {
            return "";
        }
        String count = ", " + n + " other tensor" + (n == 1 ? "" : "s");
        return f.format() == AdapterFile.Format.PEFT
                ? count + " (merge puts those that name a base tensor, PEFT's modules_to_save and saved embeddings,"
                        + " in place of the base's, and ignores the rest)"
                : count + " ignored";
    }
}
