package dev.lokr.io;

import dev.lokr.math.DoraAxis;
import dev.lokr.math.FactorMode;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Saves LoKR modules as a LyCORIS adapter file that LyCORIS (and {@link AdapterFile}) load with the
 * same effective weights.
 *
 * <p>Per module path {@code p} the module name is {@code lycoris_} + {@code p} with {@code .}
 * replaced by {@code _}, and the tensors are (shapes as {@link AdapterFile} documents):
 *
 * <ul>
 *   <li>{@code lokr_w1} or {@code lokr_w1_a} + {@code lokr_w1_b}; the scalar gain {@code g} (when
 *       the layout has one) is multiplied into {@code lokr_w1} or {@code lokr_w1_a}, since LyCORIS
 *       files do not store it;
 *   <li>{@code lokr_w2} ({@code [b, d(, kh, kw)]}) or {@code lokr_w2_a} + {@code lokr_w2_b} (conv
 *       low-rank: {@code [r, d*kh*kw]}, as LyCORIS's modules store it) + {@code lokr_t2} for
 *       Tucker;
 *   <li>{@code alpha} (0-d) {@code = s * r}, so that a reader's {@code alpha / r} is the layout's
 *       scale {@code s} (this also covers rsLora and any other way {@code s} was chosen). When both
 *       factors are full a reader takes {@code s = 1}; the writer then multiplies {@code s} into
 *       {@code lokr_w1} instead, as it does when {@code s * r} would be 0 (which readers take as
 *       "alpha unset");
 *   <li>{@code dora_scale}: the magnitude as {@code [out, 1]} / {@code [out, 1, 1, 1]} (output
 *       axis) or {@code [1, in]} / {@code [1, in, 1, 1]} (input axis).
 * </ul>
 *
 * <p>A module of a 1-D convolution (layout weight {@code [out, in, k, 1]}, as DL4J holds it) named in
 * the {@code conv1d} set of {@link #save(Path, Map, Map, DType, Set)} is written as LyCORIS writes a
 * PyTorch {@code Conv1d}, whose weight is {@code [out, in, k]}: {@code lokr_w2 [b, d, k]},
 * {@code lokr_t2 [r, r, k]}, {@code dora_scale [out, 1, 1]} / {@code [1, in, 1]}.
 *
 * <p>The metadata gets {@code lokr.format = lycoris} and {@link AdapterFile#META_MODULES}: a JSON
 * object from module name to its options ({@code rank}, {@code scale}, {@code alpha}, {@code w1},
 * {@code w2}, {@code scalar}, {@code dora}, {@code detachNorm}, {@code weightShape}). Stateless.
 */
public final class LycorisWriter {

    /** The prefix of every module name this writer produces. */
    public static final String PREFIX = "lycoris_";

    private LycorisWriter() {}

    /**
     * Saves modules in the factors' own precision (F32 for FLOAT parameters, F64 for DOUBLE).
     *
     * @param target the file to create or replace (atomically)
     * @param modules module path ({@code blocks.0.attn.q}) to its parameters, not modified
     * @param metadata extra {@code __metadata__} entries, or null
     * @throws IOException if writing fails
     * @throws IllegalArgumentException if {@code modules} is empty, two paths map to one module name,
     *     the parameters of one module mix data types, or a tensor holds NaN or an infinity; nothing is
     *     written then
     */
    public static void save(
            Path target, Map<String, LokrParams> modules, Map<String, String> metadata)
            throws IOException {
        save(target, modules, metadata, null);
    }

    /**
     * Saves modules with an explicit file dtype.
     *
     * @param target the file to create or replace (atomically)
     * @param modules module path to its parameters, not modified
     * @param metadata extra {@code __metadata__} entries, or null
     * @param dtype the dtype of every factor tensor (F32, F16, BF16, F64), or null to follow each
     *     module's data type; {@code alpha} is F64 when the dtype is F64 or F32 cannot hold it
     *     to float precision (it would round to 0, a subnormal or infinity), else F32
     * @throws IOException if writing fails
     * @throws IllegalArgumentException if {@code modules} is empty, {@code dtype} is not one of F32,
     *     F16, BF16 and F64, two paths map to one module name, or a tensor holds NaN or an infinity
     *     or, rounded to {@code dtype}, a value beyond its range (for example above 65504 for F16), or
     *     holds non-zero values that all lie below {@code dtype}'s smallest normal value (6.1e-5 for
     *     F16: it would store them as zeros or subnormals with few significant bits); nothing is
     *     written then
     */
    public static void save(
            Path target, Map<String, LokrParams> modules, Map<String, String> metadata, DType dtype)
            throws IOException {
        save(target, modules, metadata, dtype, Set.of());
    }

    /**
     * Saves modules, some of them 1-D convolutions in PyTorch's {@code Conv1d} form (see the class
     * documentation).
     *
     * @param target the file to create or replace (atomically)
     * @param modules module path to its parameters, not modified
     * @param metadata extra {@code __metadata__} entries, or null
     * @param dtype as {@link #save(Path, Map, Map, DType)}, or null
     * @param conv1d the module paths of {@code modules} that are 1-D convolutions: each layout's weight
     *     must be {@code [out, in, k, 1]}
     * @throws IOException if writing fails
     * @throws IllegalArgumentException as {@link #save(Path, Map, Map, DType)}, or if a path of
     *     {@code conv1d} is not a module or its weight is not {@code [out, in, k, 1]}
     */
    public static void save(
            Path target, Map<String, LokrParams> modules, Map<String, String> metadata, DType dtype,
            Set<String> conv1d) throws IOException {
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(conv1d, "conv1d");
        for (String path : conv1d) {
            LokrParams p = modules.get(path);
            long[] ws = p == null ? null : p.layout().weightShape();
            if (ws == null || ws.length != 4 || ws[3] != 1) {
                throw new IllegalArgumentException("conv1d module " + Json.quote(path) + " must be a module with a "
                        + "weight [out, in, k, 1], got " + (ws == null ? "no such module" : Arrays.toString(ws)));
            }
        }
        Objects.requireNonNull(modules, "modules");
        if (modules.isEmpty()) {
            throw new IllegalArgumentException("no modules to save: a file without a LoKR module cannot be read back");
        }
        if (dtype != null && !dtype.readable()) {
            throw new IllegalArgumentException("factors can be saved as " + DType.READABLE + ", not " + dtype);
        }
        List<SafetensorsWriter.Tensor> tensors = new ArrayList<>();
        Map<String, Object> options = new LinkedHashMap<>();
        Map<String, String> seen = new LinkedHashMap<>();
        for (Map.Entry<String, LokrParams> e : modules.entrySet()) {
            String path = e.getKey();
            LokrParams params = Objects.requireNonNull(e.getValue(), "params of " + path);
            if (path == null || path.isEmpty()) {
                throw new IllegalArgumentException(
                        "module path must be non-empty, got " + Json.quote(path));
            }
            String name = moduleName(path);
            String previous = seen.put(name, path);
            if (previous != null) {
                throw new IllegalArgumentException(
                        "module paths "
                                + Json.quote(previous)
                                + " and "
                                + Json.quote(path)
                                + " both map to module name "
                                + Json.quote(name));
            }
            DType dt = dtype != null ? dtype : DType.fromNd4j(params.dataType());
            options.put(name, addModule(tensors, name, params, dt, conv1d.contains(path)));
        }
        Map<String, String> meta = new LinkedHashMap<>();
        if (metadata != null) {
            meta.putAll(metadata);
        }
        meta.put("lokr.format", "lycoris");
        meta.put(AdapterFile.META_MODULES, Json.write(options));
        SafetensorsWriter.write(target, meta, tensors);
    }

    /** A 4-D factor {@code [x, y, k, 1]} as the 3-D {@code [x, y, k]} of a Conv1d module; others as they are. */
    private static INDArray conv1d(INDArray factor, boolean conv1d) {
        if (!conv1d || factor.rank() != 4) {
            return factor;
        }
        long[] s = factor.shape();
        return factor.reshape('c', new long[] {s[0], s[1], s[2]});
    }

    /**
     * The LyCORIS module name of a module path.
     *
     * @param modulePath the dotted path ({@code blocks.0.attn.q})
     * @return {@code lycoris_blocks_0_attn_q}
     */
    public static String moduleName(String modulePath) {
        return PREFIX + modulePath.replace('.', '_');
    }

    private static Map<String, Object> addModule(
            List<SafetensorsWriter.Tensor> out, String name, LokrParams params, DType dt, boolean conv1d) {
        LokrLayout layout = params.layout();
        DataType work = DataType.DOUBLE;
        double g = layout.scalar() ? params.get(LokrParam.SCALAR).getDouble(0) : 1.0;
        boolean bothFull = layout.w1Mode() == FactorMode.FULL && layout.w2Mode() == FactorMode.FULL;
        int r = layout.rank();
        double s = layout.scale();
        double alpha = s * r;
        double fold = g;
        if (bothFull || alpha == 0) {
            // A reader would take s = 1 (both full) or alpha = r (alpha 0): put s into w1 instead.
            fold *= s;
            alpha = r;
        }
        DType alphaType = dt == DType.F64 ? DType.F64 : DType.F32;
        float narrow = (float) alpha;
        if (Math.abs(narrow) < Float.MIN_NORMAL || Float.isInfinite(narrow)) {
            // F32 would store 0 (read as "unset"), a subnormal (few significant bits) or infinity
            // (refused): keep the value in F64
            alphaType = DType.F64;
        }
        if (layout.w1Mode() == FactorMode.FULL) {
            out.add(tensor(name + ".lokr_w1", params.get(LokrParam.W1).castTo(work).mul(fold), dt));
        } else {
            out.add(
                    tensor(
                            name + ".lokr_w1_a",
                            params.get(LokrParam.W1_A).castTo(work).mul(fold),
                            dt));
            out.add(tensor(name + ".lokr_w1_b", params.get(LokrParam.W1_B), dt));
        }
        switch (layout.w2Mode()) {
            case FULL -> out.add(tensor(name + ".lokr_w2", conv1d(params.get(LokrParam.W2), conv1d), dt));
            case LOW_RANK -> {
                out.add(tensor(name + ".lokr_w2_a", params.get(LokrParam.W2_A), dt));
                out.add(tensor(name + ".lokr_w2_b", params.get(LokrParam.W2_B), dt));
            }
            case TUCKER -> {
                out.add(tensor(name + ".lokr_t2", conv1d(params.get(LokrParam.T2), conv1d), dt));
                out.add(tensor(name + ".lokr_w2_a", params.get(LokrParam.W2_A), dt));
                out.add(tensor(name + ".lokr_w2_b", params.get(LokrParam.W2_B), dt));
            }
            default -> throw new IllegalStateException(layout.w2Mode().toString());
        }
        out.add(SafetensorsWriter.Tensor.of(name + ".alpha", Nd4j.scalar(alpha), alphaType));
        if (layout.dora()) {
            INDArray m = params.get(LokrParam.MAGNITUDE);
            long n = m.length();
            long[] shape;
            if (layout.doraAxis() == DoraAxis.OUTPUT) {
                shape = conv1d ? new long[] {n, 1, 1} : layout.isConv() ? new long[] {n, 1, 1, 1} : new long[] {n, 1};
            } else {
                shape = conv1d ? new long[] {1, n, 1} : layout.isConv() ? new long[] {1, n, 1, 1} : new long[] {1, n};
            }
            out.add(tensor(name + ".dora_scale", m.reshape('c', shape), dt));
        }
        Map<String, Object> opts = new LinkedHashMap<>();
        opts.put("rank", r);
        opts.put("scale", s);
        opts.put("alpha", alpha);
        opts.put("w1", layout.w1Mode().name());
        opts.put("w2", layout.w2Mode().name());
        opts.put("scalar", layout.scalar());
        opts.put("scalarFolded", g);
        opts.put("dora", layout.doraAxis().name());
        opts.put("detachNorm", layout.detachNorm());
        long[] ws = layout.weightShape();
        opts.put("weightShape", conv1d ? new long[] {ws[0], ws[1], ws[2]} : ws);
        return opts;
    }

    /** The tensor to write; refuses values {@code dt} would not store as finite numbers. */
    private static SafetensorsWriter.Tensor tensor(String name, INDArray values, DType dt) {
        FiniteValues.Unfit unfit = FiniteValues.first(values, dt, null);
        if (unfit != null) {
            throw new IllegalArgumentException(
                    "cannot save tensor "
                            + Json.quote(name)
                            + ": it "
                            + FiniteValues.problem(unfit, dt)
                            + (Double.isFinite(unfit.value())
                                    ? "; save with a wider dtype (F32 or F64)"
                                    : "; an adapter's tensors must be finite")
                            + foldedNote(name));
        }
        double tiny = FiniteValues.tinyMaximum(values, dt);
        if (!Double.isNaN(tiny)) {
            throw new IllegalArgumentException(
                    "cannot save tensor "
                            + Json.quote(name)
                            + ": its largest magnitude "
                            + tiny
                            + " is below the smallest normal "
                            + dt
                            + " value ("
                            + dt.smallestNormal()
                            + "), so "
                            + dt
                            + " would keep it as zeros or subnormals with few significant bits; save with a wider"
                            + (dt == DType.F16 ? " dtype (F32 or F64)" : " dtype (F64)")
                            + foldedNote(name));
        }
        return SafetensorsWriter.Tensor.of(name, values.dup('c'), dt);
    }

    /** Says that {@code name} carries the folded scale and scalar, when it is a {@code w1} tensor. */
    private static String foldedNote(String name) {
        return name.endsWith(".lokr_w1") || name.endsWith(".lokr_w1_a")
                ? " (this tensor carries the folded scale and scalar)"
                : "";
    }
}
