package dev.lokr.io;

import dev.lokr.math.FactorMode;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParams;
import dev.lokr.math.LokrWeights;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Bakes a LoKR adapter file into a base model's safetensors file.
 *
 * <p>Each adapter module is matched to one base tensor {@code <path>.weight}: for LyCORIS files,
 * the module name must equal a LyCORIS prefix plus {@code path} with {@code .} replaced by {@code
 * _} (several base paths can flatten to the same name, which is an error); for PEFT files the
 * module name is the path. The adapted weight is {@link LokrWeights#effectiveWeight} (DoRA
 * included), computed in float64 and written back in the base tensor's dtype. A PEFT file's saved
 * modules (see {@link SavedModules}) replace the base's tensors of the same name, as PEFT's {@code
 * merge_and_unload} does, unless the caller keeps the base's. Every other tensor is copied byte for
 * byte, and the base's metadata is kept. Stateless.
 */
public final class AdapterMerge {

    private AdapterMerge() {}

    /**
     * Which part of an adapter and of a base file a merge works on, for files that hold several
     * models. A LyCORIS adapter for Stable Diffusion names its UNet modules {@code lora_unet_...} and
     * its text encoders' {@code lora_te_...} ({@code lora_te1_}, {@code lora_te2_} for SDXL), each by
     * the module's path inside its own model; a single-file checkpoint holds each model under a
     * prefix ({@code model.diffusion_model.}, {@code cond_stage_model.transformer.},
     * {@code conditioner.embedders.0.transformer.}). Merging one model at a time, with the module
     * prefix of its modules and the base prefix of its tensors, matches them.
     *
     * <p>A base prefix only removes a prefix: a checkpoint whose keys follow another naming than the
     * adapter's (the original Stable Diffusion 1.x UNet's {@code input_blocks...} against the
     * diffusers names {@code down_blocks...} that LyCORIS uses for it) still matches nothing.
     *
     * <p>A PEFT file's saved modules ({@link SavedModules}) are in the scope when their path starts with the
     * module prefix.
     *
     * @param modulePrefix merge only the modules whose name starts with this ({@code ""}: all); the
     *     others are left out and reported
     * @param basePrefix match only the base tensors whose name starts with this, by the rest of the
     *     name ({@code ""}: all, by the whole name)
     */
    public record Scope(String modulePrefix, String basePrefix) {

        /** Every module, every base tensor by its whole name. */
        public static final Scope ALL = new Scope("", "");

        /** Checks both prefixes. */
        public Scope {
            Objects.requireNonNull(modulePrefix, "modulePrefix");
            Objects.requireNonNull(basePrefix, "basePrefix");
        }
    }

    /**
     * What a merge does with the tensors a PEFT adapter saves whole beside its LoKR modules: the modules of
     * PEFT's {@code modules_to_save} (a classification head trained in full, say) and saved embedding
     * layers. PEFT stores them by their path in the model, {@code base_model.model.<path>.weight} and
     * {@code .bias}, and its {@code merge_and_unload} puts them in place of the base model's. A saved tensor
     * is one whose name, without {@code base_model.model.} and after the base prefix, names a tensor of the
     * base file, and whose path starts with the scope's module prefix; the adapter's other tensors (a PEFT
     * trainable-tokens delta, a head the base file does not hold) are reported as ignored. LyCORIS files
     * have none.
     */
    public enum SavedModules {
        /**
         * Write each saved tensor in place of the base tensor it names, as PEFT does: converted to that
         * tensor's dtype (F32, F16, BF16 and F64 values convert), or copied byte for byte when both have the
         * same dtype of another kind (a BatchNorm's I64 {@code num_batches_tracked}). Refused, before anything is
         * written: a saved tensor whose base tensor has another shape (an embedding resized in training), a
         * dtype that does not convert, or a base tensor that a LoKR module merges into. Refused while writing,
         * the output left as it was: a saved tensor holding NaN, an infinity or a value beyond the base
         * dtype's range.
         */
        REPLACE,
        /** Keep the base's tensors; the saved ones are reported with the adapter's other ignored tensors. */
        KEEP
    }

    /**
     * One merged module.
     *
     * @param module the adapter module's name
     * @param baseTensor the base tensor it was merged into ({@code <path>.weight})
     * @param shape the weight's shape
     * @param dtype the weight's (kept) dtype
     */
    public record Merged(String module, String baseTensor, long[] shape, DType dtype) {

        /** Copies the shape. */
        public Merged {
            shape = shape.clone();
        }

        /**
         * The weight's shape.
         *
         * @return a copy
         */
        @Override
        public long[] shape() {
            return shape.clone();
        }

        /** Compares every component, the shape by content. */
        @Override
        public boolean equals(Object o) {
            return o instanceof Merged m
                    && module.equals(m.module)
                    && baseTensor.equals(m.baseTensor)
                    && Arrays.equals(shape, m.shape)
                    && dtype == m.dtype;
        }

        @Override
        public int hashCode() {
            return Objects.hash(module, baseTensor, Arrays.hashCode(shape), dtype);
        }

        /**
         * @return for example {@code lycoris_fc -> fc.weight [64, 32] F32}; a name that could break the line (a
         *     space, a quote, a control or format character) is quoted and escaped ({@link Json#printable})
         */
        @Override
        public String toString() {
            return Json.printable(module) + " -> " + Json.printable(baseTensor) + " " + Arrays.toString(shape) + " "
                    + dtype;
        }
    }

    /**
     * Merges an adapter file into a base file and writes the result.
     *
     * @param base the base model's safetensors, not modified
     * @param adapter the adapter (LyCORIS or PEFT layout), not modified
     * @param out the merged file to create or replace (atomically); may be {@code base}, not {@code adapter}
     * @param multiplier the strength {@code m}
     * @param log receives one line per merged module (as it is written, in the base file's order), one per
     *     replaced base tensor (after the file is written, in the base file's order), and one naming the adapter tensors that belong to no LoKR module and
     *     replace nothing (ignored) if there are any; or null
     * @return the merged modules, in adapter order; a PEFT file's saved modules replace the base's tensors
     *     ({@link SavedModules#REPLACE})
     * @throws AdapterFormatException if a module matches no base weight or several, two modules
     *     match one weight, a module's tensors do not fit its weight (the message names the
     *     module and both shapes), or the merged weight would hold NaN or an infinity (or a value
     *     beyond the range of the base tensor's dtype) where the base weight is finite, or a PEFT file's saved
     *     tensor cannot replace the base tensor it names ({@link SavedModules#REPLACE})
     * @throws SafetensorsFormatException if a file is not valid safetensors
     * @throws IOException if reading or writing fails
     * @throws IllegalArgumentException if {@code multiplier} is not finite, or {@code out} is the adapter file or
     *     the {@code adapter_config.json} beside it
     */
    public static List<Merged> mergeFile(
            Path base, Path adapter, Path out, double multiplier, Consumer<String> log)
            throws IOException {
        return mergeFile(base, adapter, out, multiplier, Scope.ALL, log);
    }

    /**
     * Merges the modules of one model of an adapter file into the tensors of one model of a base
     * file, as {@link #mergeFile(Path, Path, Path, double, Consumer)} merges every module; see {@link
     * Scope}. Every base tensor is written to {@code out}: merged, replaced by a PEFT file's saved module, or
     * copied.
     *
     * @param base the base model's safetensors, not modified
     * @param adapter the adapter, not modified
     * @param out the merged file to create or replace (atomically); may be {@code base}, not {@code adapter}
     * @param multiplier the strength {@code m}
     * @param scope which modules, and which base tensors by which part of their names
     * @param log as for {@link #mergeFile(Path, Path, Path, double, Consumer)}, and one line naming the
     *     modules the scope leaves out, if there are any; or null
     * @return the merged modules, in adapter order
     * @throws AdapterFormatException as {@link #mergeFile(Path, Path, Path, double, Consumer)}, or if no
     *     module starts with the module prefix
     * @throws SafetensorsFormatException if a file is not valid safetensors, or no base tensor starts
     *     with the base prefix
     * @throws IOException if reading or writing fails
     * @throws IllegalArgumentException if {@code multiplier} is not finite, or {@code out} is the adapter file or
     *     the {@code adapter_config.json} beside it
     */
    public static List<Merged> mergeFile(
            Path base, Path adapter, Path out, double multiplier, Scope scope, Consumer<String> log)
            throws IOException {
        return mergeFile(base, adapter, out, multiplier, scope, SavedModules.REPLACE, log);
    }

    /**
     * {@link #mergeFile(Path, Path, Path, double, Scope, Consumer)} with a choice for a PEFT file's saved
     * modules: {@link SavedModules#REPLACE} (what the other overloads do) or {@link SavedModules#KEEP}.
     *
     * @param base the base model's safetensors, not modified
     * @param adapter the adapter, not modified
     * @param out the merged file to create or replace (atomically); may be {@code base}, not {@code adapter}
     * @param multiplier the strength {@code m}
     * @param scope which modules, and which base tensors by which part of their names
     * @param saved whether a PEFT file's saved modules replace the base's tensors
     * @param log as for {@link #mergeFile(Path, Path, Path, double, Scope, Consumer)}, and one line per
     *     replaced base tensor; or null
     * @return the merged modules, in adapter order (replaced tensors are not modules and are not listed)
     * @throws AdapterFormatException as {@link #mergeFile(Path, Path, Path, double, Scope, Consumer)}, or, with
     *     {@link SavedModules#REPLACE} only, if a saved tensor does not fit the base tensor it names (another
     *     shape, a dtype that does not convert, NaN, an infinity or a value beyond the base dtype's range) or
     *     names a weight that a LoKR module also merges into
     * @throws SafetensorsFormatException if a file is not valid safetensors, or no base tensor starts
     *     with the base prefix
     * @throws IOException if reading or writing fails
     * @throws IllegalArgumentException if {@code multiplier} is not finite, or {@code out} is the adapter file or
     *     the {@code adapter_config.json} beside it
     */
    public static List<Merged> mergeFile(Path base, Path adapter, Path out, double multiplier, Scope scope,
            SavedModules saved, Consumer<String> log) throws IOException {
        Objects.requireNonNull(scope, "scope");
        Objects.requireNonNull(saved, "saved");
        Objects.requireNonNull(base, "base");
        Objects.requireNonNull(adapter, "adapter");
        Objects.requireNonNull(out, "out");
        if (!Double.isFinite(multiplier)) {
            throw new IllegalArgumentException("multiplier must be finite, got " + multiplier);
        }
        // fail before the work, not at the end
        AtomicFiles.requireWritable(out);
        if (Files.exists(out) && Files.exists(adapter) && Files.isSameFile(out, adapter)) {
            throw new IllegalArgumentException("the output " + out + " is the adapter file " + adapter
                    + ", which the merge would overwrite with the merged model; write to another file");
        }
        Path config = adapter.toAbsolutePath().resolveSibling(AdapterFile.PEFT_CONFIG);
        if (Files.exists(out) && Files.exists(config) && Files.isSameFile(out, config)) {
            throw new IllegalArgumentException("the output " + out + " is the adapter's PEFT config " + config
                    + ", which the merge would overwrite with the merged model; write to another file");
        }
        try (SafetensorsReader in = SafetensorsReader.open(base);
                AdapterFile file = AdapterFile.read(adapter)) {
            List<String> modules = inScope(file, scope, adapter, log);
            Map<String, String> targets = match(file, modules, in, scope.basePrefix(), adapter);
            List<Saved> savedTensors = savedTensors(file, in, scope);
            boolean replace = saved == SavedModules.REPLACE;
            if (replace) {
                checkSaved(savedTensors, targets, adapter);
            }
            List<String> ignored = new ArrayList<>(file.otherTensors());
            if (replace) {
                savedTensors.forEach(t -> ignored.remove(t.name()));
            }
            if (log != null && !ignored.isEmpty()) {
                boolean one = ignored.size() == 1;
                log.accept("ignored " + ignored.size() + " tensor" + (one ? "" : "s") + " of the adapter that belong"
                        + (one ? "s" : "") + " to no LoKR module"
                        + (file.format() == AdapterFile.Format.PEFT ? " and replace" + (one ? "s" : "")
                                + " no base tensor" : "")
                        + " (first: " + Json.printable(ignored.get(0)) + ")"
                        + (replace || savedTensors.isEmpty() ? "" : "; the base's tensors were kept for the "
                                + savedTensors.size() + " saved module tensor" + (savedTensors.size() == 1 ? "" : "s")
                                + " among them"));
            }
            if (log != null) {
                file.notes().forEach(n -> log.accept("note: " + n));
            }
            // every module is checked against its weight before anything is written; the merged weights are
            // computed one at a time while the file is written, so memory holds one weight, not the model
            Map<String, SafetensorsWriter.Tensor> replaced = new HashMap<>();
            List<Merged> merged = new ArrayList<>();
            for (String module : modules) {
                String tensor = targets.get(module);
                TensorInfo info = in.info(tensor);
                LokrParams params = file.resolve(module, info.shape(), DataType.DOUBLE);
                Merged done = new Merged(module, tensor, info.shape(), info.dtype());
                merged.add(done);
                replaced.put(tensor, SafetensorsWriter.Tensor.computed(tensor, info.dtype(), info.shape(),
                        () -> mergedWeight(in, done, params, multiplier, adapter, log)));
            }
            for (Saved t : replace ? savedTensors : List.<Saved>of()) {
                TensorInfo target = t.target();
                replaced.put(target.name(), target.dtype().readable()
                        ? SafetensorsWriter.Tensor.computed(target.name(), target.dtype(), target.shape(),
                                () -> savedValues(file, t, adapter))
                        : SafetensorsWriter.Tensor.raw(target.name(), target.dtype(), target.shape(),
                                file.reader().raw(t.name())));
            }
            List<SafetensorsWriter.Tensor> tensors = new ArrayList<>();
            for (TensorInfo t : in.tensors()) {
                SafetensorsWriter.Tensor computed = replaced.get(t.name());
                tensors.add(computed != null ? computed : SafetensorsWriter.Tensor.copied(in, t.name()));
            }
            SafetensorsWriter.write(out, in.metadata(), tensors);
            if (log != null && replace) {
                // after the write, in the base file's order: a refusal while writing leaves no such line
                Map<String, Saved> byTarget = new HashMap<>();
                savedTensors.forEach(t -> byTarget.put(t.target().name(), t));
                for (TensorInfo t : in.tensors()) {
                    Saved s = byTarget.get(t.name());
                    if (s != null) {
                        log.accept("replaced " + Json.printable(t.name()) + " " + Arrays.toString(t.shape()) + " "
                                + t.dtype() + " with the adapter's saved " + Json.printable(s.name())
                                + " (PEFT modules_to_save or a saved embedding)");
                    }
                }
            }
            return merged;
        }
    }

    /**
     * One module's merged weight, {@link LokrWeights#effectiveWeight} in float64, refused when it would not
     * fit the base tensor's dtype where the base is finite.
     */
    private static INDArray mergedWeight(SafetensorsReader in, Merged done, LokrParams params, double multiplier,
                                         Path adapter, Consumer<String> log) throws IOException {
        INDArray weight = in.read(done.baseTensor(), DataType.DOUBLE);
        if (weight.rank() == 3) {
            weight = weight.reshape('c', params.layout().weightShape());   // Conv1d [out, in, k] as [out, in, k, 1]
        }
        INDArray adapted = LokrWeights.effectiveWeight(params, weight, multiplier, null);
        FiniteValues.Unfit unfit = FiniteValues.first(adapted, done.dtype(), weight);
        if (weight.closeable() && weight != adapted) {
            weight.close();   // read for this module only: free it now, not when the collector runs
        }
        if (unfit != null) {
            throw new AdapterFormatException(adapter, done.module(), "merging it would give base tensor "
                    + Json.quote(done.baseTensor()) + " " + Arrays.toString(done.shape()) + " " + done.dtype() + " (scale "
                    + params.layout().scale() + ", multiplier " + multiplier + ") a merged weight that "
                    + FiniteValues.problem(unfit, done.dtype()) + " where the base is finite; nothing was written");
        }
        if (log != null) {
            LokrLayout layout = params.layout();
            boolean ranked = layout.w1Mode() != FactorMode.FULL || layout.w2Mode() != FactorMode.FULL;
            log.accept("merged " + done + " (" + layout.w1Mode() + "/" + layout.w2Mode()
                    + (ranked ? ", rank " + layout.rank() : "") + ", scale " + layout.scale()
                    + (layout.dora() ? ", DoRA " + layout.doraAxis() : "") + ")");
        }
        return adapted;
    }

    /** A PEFT file's saved tensor and the base tensor it names. */
    private record Saved(String name, TensorInfo saved, TensorInfo target) {
    }

    /**
     * A PEFT file's saved tensors ({@link SavedModules}) in file order: each of the adapter's other tensors
     * whose path (its name without {@code base_model.model.}) starts with the module prefix and, after the
     * base prefix, names a base tensor. Nothing is checked here; see {@link #checkSaved}.
     */
    private static List<Saved> savedTensors(AdapterFile file, SafetensorsReader in, Scope scope) {
        List<Saved> result = new ArrayList<>();
        file.savedModuleTensors().forEach((name, path) -> {
            String target = scope.basePrefix() + path;
            if (path.startsWith(scope.modulePrefix()) && in.contains(target)) {
                result.add(new Saved(name, file.reader().info(name), in.info(target)));
            }
        });
        return result;
    }

    /** Refuses a saved tensor of another shape, of a dtype that does not convert, or on a LoKR module's target. */
    private static void checkSaved(List<Saved> saved, Map<String, String> moduleTargets, Path adapter)
            throws AdapterFormatException {
        Map<String, String> byTarget = new HashMap<>();
        moduleTargets.forEach((module, tensor) -> byTarget.put(tensor, module));
        String keep = "; to merge without it, keep the base's tensors (lokr merge --keep-base-modules,"
                + " AdapterMerge.SavedModules.KEEP)";
        for (Saved t : saved) {
            String pair = "saved tensor " + Json.quote(t.name()) + " " + Arrays.toString(t.saved().shape()) + " "
                    + t.saved().dtype() + " would replace base tensor " + Json.quote(t.target().name()) + " "
                    + Arrays.toString(t.target().shape()) + " " + t.target().dtype()
                    + " (PEFT's merge_and_unload puts modules_to_save and saved embeddings in place)";
            if (!Arrays.equals(t.saved().shape(), t.target().shape())) {
                throw new AdapterFormatException(adapter, null, pair + ", but the shapes differ (an embedding resized"
                        + " in training?)" + keep);
            }
            boolean converts = t.saved().dtype().readable() && t.target().dtype().readable();
            if (t.saved().dtype() != t.target().dtype() && !converts) {
                throw new AdapterFormatException(adapter, null, pair + ", but only F32, F16, BF16 and F64 values"
                        + " convert between dtypes; others are copied only into a tensor of the same dtype" + keep);
            }
            String module = byTarget.get(t.target().name());
            if (module != null) {
                throw new AdapterFormatException(adapter, module, "merges into base tensor "
                        + Json.quote(t.target().name()) + ", which the adapter's saved tensor " + Json.quote(t.name())
                        + " would also replace" + keep);
            }
        }
    }

    /**
     * A saved tensor's values, in float32 unless it is F64 (F16, BF16 and F32 values are exact in float32),
     * refused when one is NaN or infinite, or beyond the range of the base tensor's dtype.
     */
    private static INDArray savedValues(AdapterFile file, Saved t, Path adapter) throws IOException {
        INDArray values = file.reader().read(t.name(), t.saved().dtype() == DType.F64 ? DataType.DOUBLE
                : DataType.FLOAT);
        FiniteValues.Unfit unfit = FiniteValues.first(values, t.target().dtype(), null);
        if (unfit != null) {
            throw new AdapterFormatException(adapter, null, "saved tensor " + Json.quote(t.name()) + " "
                    + FiniteValues.problem(unfit, t.target().dtype()) + " and cannot replace base tensor "
                    + Json.quote(t.target().name()) + " " + Arrays.toString(t.target().shape()) + " "
                    + t.target().dtype() + "; nothing was written (lokr merge --keep-base-modules keeps the base's)");
        }
        return values;
    }

    /** The adapter's modules whose names start with the scope's module prefix; the others are reported. */
    private static List<String> inScope(AdapterFile file, Scope scope, Path adapter, Consumer<String> log)
            throws AdapterFormatException {
        List<String> in = new ArrayList<>();
        List<String> out = new ArrayList<>();
        for (String module : file.modules()) {
            (module.startsWith(scope.modulePrefix()) ? in : out).add(module);
        }
        if (in.isEmpty()) {
            throw new AdapterFormatException(adapter, null, "no module name starts with '" + scope.modulePrefix()
                    + "'; the modules are " + abbreviated(file.modules()));
        }
        if (log != null && !out.isEmpty()) {
            log.accept("left out " + out.size() + " module" + (out.size() == 1 ? "" : "s")
                    + " whose names do not start with '" + scope.modulePrefix() + "' (first: " + Json.printable(out.get(0))
                    + ")");
        }
        return in;
    }

    /** The first few names of a list, and how many more there are. */
    private static String abbreviated(List<String> names) {
        int shown = Math.min(5, names.size());
        return names.subList(0, shown).stream().map(Json::printable).toList()
                + (names.size() > shown ? " and " + (names.size() - shown) + " more" : "");
    }

    /**
     * Module name to its base tensor; every module matched exactly once, no tensor twice. Only base
     * tensors whose name starts with {@code basePrefix} are candidates, matched by the rest of the name.
     */
    private static Map<String, String> match(AdapterFile file, List<String> modules, SafetensorsReader in,
            String basePrefix, Path adapter) throws IOException {
        Map<String, List<String>> byName = new HashMap<>();
        boolean anyUnderPrefix = false;
        for (TensorInfo t : in.tensors()) {
            String n = t.name();
            if (!n.startsWith(basePrefix)) {
                continue;
            }
            anyUnderPrefix = true;
            String rest = n.substring(basePrefix.length());
            if (!rest.endsWith(".weight") || rest.length() == ".weight".length()) {
                continue;
            }
            String path = rest.substring(0, rest.length() - ".weight".length());
            for (String candidate : file.candidateNames(path)) {
                byName.computeIfAbsent(candidate, k -> new ArrayList<>()).add(n);
            }
        }
        if (!anyUnderPrefix) {
            throw new SafetensorsFormatException(in.path(), null, "no tensor name starts with the base prefix '"
                    + basePrefix + "'");
        }
        String where = in.path() + (basePrefix.isEmpty() ? "" : " under the base prefix '" + basePrefix + "'");
        Map<String, String> result = new LinkedHashMap<>();
        Map<String, String> owner = new HashMap<>();
        for (String module : modules) {
            List<String> hits = byName.getOrDefault(module, List.of());
            if (hits.isEmpty()) {
                throw new AdapterFormatException(
                        adapter,
                        module,
                        "matches no base tensor (looked for "
                                + (file.format() == AdapterFile.Format.PEFT
                                        ? Json.quote(module + ".weight")
                                        : "'<path>.weight' with a LyCORIS prefix + path.replace('.', '_') == "
                                                + Json.quote(module))
                                + " in "
                                + where
                                + (basePrefix.isEmpty()
                                        ? "; a file that holds the model under a prefix such as "
                                                + "'model.diffusion_model.' needs that base prefix"
                                        : basePrefix.endsWith(".")
                                                ? ""
                                                : "; the base prefix is cut from the names as given, so it"
                                                        + " usually ends with '.' ('" + basePrefix + ".')")
                                + ")");
            }
            if (hits.size() > 1) {
                throw new AdapterFormatException(
                        adapter, module, "is ambiguous: it matches base tensors "
                                + hits.stream().map(Json::quote).toList());
            }
            String tensor = hits.get(0);
            TensorInfo target = in.info(tensor);
            boolean dimsFit = Arrays.stream(target.shape()).allMatch(d -> d >= 1 && d <= Integer.MAX_VALUE);
            if (!target.dtype().readable() || !dimsFit) {
                throw new AdapterFormatException(
                        adapter,
                        module,
                        "merges into base tensor " + Json.quote(tensor) + " " + Arrays.toString(target.shape()) + " "
                                + target.dtype() + " of " + in.path() + ", which cannot take a merged weight: it must"
                                + " be of " + DType.READABLE + " with every dim from 1 to 2^31 - 1");
            }
            String other = owner.put(tensor, module);
            if (other != null) {
                throw new AdapterFormatException(
                        adapter,
                        module,
                        "and module " + Json.quote(other) + " both match base tensor " + Json.quote(tensor)
                                + "; merge the modules of one model at a time (a module prefix such as "
                                + "'lora_te1_')");
            }
            result.put(module, tensor);
        }
        return result;
    }
}
