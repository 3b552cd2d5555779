package dev.lokr.io;

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
 * included), computed in float64 and written back in the base tensor's dtype. Every other tensor is
 * copied byte for byte, and the base's metadata is kept. Stateless.
 */
public final class AdapterMerge {

    private AdapterMerge() {}

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

        /** @return for example {@code lycoris_fc -> fc.weight [64, 32] F32} */
        @Override
        public String toString() {
            return module + " -> " + baseTensor + " " + Arrays.toString(shape) + " " + dtype;
        }
    }

    /**
     * Merges an adapter file into a base file and writes the result.
     *
     * @param base the base model's safetensors, not modified
     * @param adapter the adapter (LyCORIS or PEFT layout), not modified
     * @param out the merged file to create or replace (atomically); may be {@code base}, not {@code adapter}
     * @param multiplier the strength {@code m}
     * @param log receives one line per merged module, and one naming the adapter tensors that belong to no
     *     LoKR module (ignored) if there are any; or null
     * @return the merged modules, in adapter order
     * @throws AdapterFormatException if a module matches no base weight or several, two modules
     *     match one weight, a module's tensors do not fit its weight (the message names the
     *     module and both shapes), or the merged weight would hold NaN or an infinity (or a value
     *     beyond the range of the base tensor's dtype) where the base weight is finite
     * @throws SafetensorsFormatException if a file is not valid safetensors
     * @throws IOException if reading or writing fails
     * @throws IllegalArgumentException if {@code multiplier} is not finite, or {@code out} is the adapter file
     */
    public static List<Merged> mergeFile(
            Path base, Path adapter, Path out, double multiplier, Consumer<String> log)
            throws IOException {
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
        try (SafetensorsReader in = SafetensorsReader.open(base);
                AdapterFile file = AdapterFile.read(adapter)) {
            if (log != null && !file.otherTensors().isEmpty()) {
                log.accept(
                        "ignored "
                                + file.otherTensors().size()
                                + " tensors of the adapter that belong to no LoKR module (first: "
                                + file.otherTensors().get(0)
                                + ")");
            }
            Map<String, String> targets = match(file, in, adapter);
            Map<String, INDArray> replaced = new HashMap<>();
            List<Merged> merged = new ArrayList<>();
            for (String module : file.modules()) {
                String tensor = targets.get(module);
                TensorInfo info = in.info(tensor);
                INDArray weight = in.read(tensor, DataType.DOUBLE);
                LokrParams params = file.resolve(module, info.shape(), DataType.DOUBLE);
                INDArray adapted = LokrWeights.effectiveWeight(params, weight, multiplier, null);
                FiniteValues.Unfit unfit = FiniteValues.first(adapted, info.dtype(), weight);
                if (unfit != null) {
                    throw new AdapterFormatException(
                            adapter,
                            module,
                            "merging it would give base tensor '"
                                    + tensor
                                    + "' "
                                    + Arrays.toString(info.shape())
                                    + " "
                                    + info.dtype()
                                    + " (scale "
                                    + params.layout().scale()
                                    + ", multiplier "
                                    + multiplier
                                    + ") a merged weight that "
                                    + FiniteValues.problem(unfit, info.dtype())
                                    + " where the base is finite; nothing was written");
                }
                replaced.put(tensor, adapted);
                Merged done = new Merged(module, tensor, info.shape(), info.dtype());
                merged.add(done);
                if (log != null) {
                    LokrLayout layout = params.layout();
                    log.accept("merged " + done + " (" + layout.w1Mode() + "/" + layout.w2Mode() + ", rank "
                            + layout.rank() + ", scale " + layout.scale()
                            + (layout.dora() ? ", DoRA " + layout.doraAxis() : "") + ")");
                }
            }
            List<SafetensorsWriter.Tensor> tensors = new ArrayList<>();
            for (TensorInfo t : in.tensors()) {
                INDArray v = replaced.get(t.name());
                if (v != null) {
                    tensors.add(SafetensorsWriter.Tensor.of(t.name(), v, t.dtype()));
                } else {
                    tensors.add(SafetensorsWriter.Tensor.copied(in, t.name()));
                }
            }
            SafetensorsWriter.write(out, in.metadata(), tensors);
            return merged;
        }
    }

    /** Module name to its base tensor; every module matched exactly once, no tensor twice. */
    private static Map<String, String> match(AdapterFile file, SafetensorsReader in, Path adapter)
            throws AdapterFormatException {
        Map<String, List<String>> byName = new HashMap<>();
        for (TensorInfo t : in.tensors()) {
            String n = t.name();
            if (!n.endsWith(".weight") || n.length() == ".weight".length()) {
                continue;
            }
            String path = n.substring(0, n.length() - ".weight".length());
            for (String candidate : file.candidateNames(path)) {
                byName.computeIfAbsent(candidate, k -> new ArrayList<>()).add(n);
            }
        }
        Map<String, String> result = new LinkedHashMap<>();
        Map<String, String> owner = new HashMap<>();
        for (String module : file.modules()) {
            List<String> hits = byName.getOrDefault(module, List.of());
            if (hits.isEmpty()) {
                throw new AdapterFormatException(
                        adapter,
                        module,
                        "matches no base tensor (looked for "
                                + (file.format() == AdapterFile.Format.PEFT
                                        ? "'" + module + ".weight'"
                                        : "'<path>.weight' with a LyCORIS prefix + path.replace('.', '_') == '"
                                                + module
                                                + "'")
                                + " in "
                                + in.path()
                                + ")");
            }
            if (hits.size() > 1) {
                throw new AdapterFormatException(
                        adapter, module, "is ambiguous: it matches base tensors " + hits);
            }
            String tensor = hits.get(0);
            String other = owner.put(tensor, module);
            if (other != null) {
                throw new AdapterFormatException(
                        adapter,
                        module,
                        "and module '" + other + "' both match base tensor '" + tensor + "'");
            }
            result.put(module, tensor);
        }
        return result;
    }
}
