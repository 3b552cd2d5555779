package dev.lokr.io;

import dev.lokr.math.DoraAxis;
import dev.lokr.math.FactorMode;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A LoKR adapter file in the LyCORIS or the PEFT layout, opened for inspection and for turning its
 * modules into {@link LokrParams}.
 *
 * <h2>Layouts</h2>
 *
 * <ul>
 *   <li>{@link Format#LYCORIS}: per module {@code <name>.lokr_w1} or {@code lokr_w1_a} + {@code
 *       lokr_w1_b}; {@code <name>.lokr_w2} or {@code lokr_w2_a} + {@code lokr_w2_b} (+ {@code
 *       lokr_t2} for Tucker); {@code <name>.alpha} (0-d); optionally {@code <name>.dora_scale}. The
 *       name is a prefix ({@link #LYCORIS_PREFIXES}) plus the module path with {@code .} replaced
 *       by {@code _}. Scale: {@code s = alpha / r} with {@code r} = {@code lokr_w1_b.shape[0]},
 *       else {@code lokr_w2_b.shape[0]} (an alpha that is missing or 0 means {@code alpha = r});
 *       {@code s = 1} when both factors are full.
 *   <li>{@link Format#PEFT}: keys {@code base_model.model.<path>.lokr_*}, no alpha tensors; {@code
 *       r}, {@code alpha}, {@code rank_pattern}, {@code alpha_pattern} come from the {@code
 *       adapter_config.json} beside the file. Scale {@code s = alpha / r} always. The module name
 *       is the path.
 * </ul>
 *
 * <p>A file is PEFT when it is named {@code adapter_model.safetensors} with an {@code
 * adapter_config.json} beside it, or when its tensor names start with {@code base_model.model.};
 * otherwise LyCORIS.
 *
 * <h2>Tensor shapes (file to core)</h2>
 *
 * <p>{@code lokr_w1 [a, c]}, {@code lokr_w1_a [a, r]}, {@code lokr_w1_b [r, c]}; {@code lokr_w2 [b,
 * d]} (conv {@code [b, d, kh, kw]}); low-rank {@code lokr_w2_a [b, r]}, {@code lokr_w2_b [r, d]}
 * (conv: {@code [r, d*kh*kw]} as LyCORIS's modules store it, or {@code [r, d, kh, kw]} as its
 * functional API does; both are accepted and flattened); Tucker {@code lokr_t2 [r, r, kh, kw]},
 * {@code lokr_w2_a [r, b]}, {@code lokr_w2_b [r, d]}; {@code dora_scale} {@code [out, 1(, 1, 1)]}
 * (output axis) or {@code [1, in(, 1, 1)]} (input axis), mapped to the core's magnitude {@code
 * [out]} or {@code [in]}. The scalar gain is never stored (it is folded into {@code lokr_w1}), so
 * resolved modules have no scalar. A PyTorch {@code Conv1d} module (weight {@code [out, in, k]})
 * stores {@code lokr_w2 [b, d, k]}, {@code lokr_t2 [r, r, k]} and {@code dora_scale [out, 1, 1]}; it
 * resolves onto a target {@code [out, in, k]} or {@code [out, in, k, 1]}, planned as the latter (in a
 * PEFT file a full 3-D {@code lokr_w2} is read with the factors swapped for {@code k = 1}, as PEFT
 * computes it, and refused for {@code k > 1}).
 *
 * <p>The factors alone cannot always tell the weight's shape (a conv kernel folded into {@code
 * lokr_w2_b}), so {@link #resolve} takes the target weight's shape and checks every tensor against
 * it. Every problem is an {@link AdapterFormatException} naming the module.
 *
 * <p>The file stays open until {@link #close()}. Not thread-safe.
 */
public final class AdapterFile implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(AdapterFile.class);

    /** The module-name prefixes of the LyCORIS layout, longest first. */
    public static final List<String> LYCORIS_PREFIXES =
            List.of("lora_unet_", "lora_te1_", "lora_te2_", "lora_te_", "lycoris_");

    /** The key prefix of the PEFT layout. */
    public static final String PEFT_PREFIX = "base_model.model.";

    /** The file name of a PEFT adapter's config, read from the adapter file's folder. */
    public static final String PEFT_CONFIG = "adapter_config.json";

    /** The metadata key under which {@link LycorisWriter} records each module's options (JSON). */
    public static final String META_MODULES = "lokr.modules";

    /** The tensor suffixes of one module, in file order. */
    static final List<String> SUFFIXES =
            List.of(
                    "lokr_w1",
                    "lokr_w1_a",
                    "lokr_w1_b",
                    "lokr_w2",
                    "lokr_w2_a",
                    "lokr_w2_b",
                    "lokr_t2",
                    "alpha",
                    "dora_scale");

    /** Which layout a file uses. */
    public enum Format {
        /** LyCORIS: {@code lycoris_<path>.lokr_*} with {@code .alpha} tensors. */
        LYCORIS,
        /** PEFT: {@code base_model.model.<path>.lokr_*} with {@code adapter_config.json}. */
        PEFT
    }

    /**
     * What a module holds, from the file's header alone.
     *
     * @param name the module's name as stored (LyCORIS: {@code lycoris_...}; PEFT: the module path)
     * @param tensors suffix ({@code lokr_w1}, {@code alpha}, ...) to shape, in file order
     * @param w1Mode FULL or LOW_RANK
     * @param w2Mode FULL, LOW_RANK or TUCKER
     * @param rank the rank the scale divides by (LyCORIS: from the factors, 0 when both are full;
     *     PEFT: from the config)
     * @param alpha the alpha (LyCORIS: the {@code .alpha} tensor, NaN when absent; PEFT: the
     *     config's)
     * @param scale the scale {@code s} the file implies
     * @param doraAxis the DoRA axis detected from {@code dora_scale}'s shape
     * @param dtype the dtype of the factor tensors
     * @param numParams the number of stored values (alpha excluded)
     */
    public record ModuleInfo(
            String name,
            Map<String, long[]> tensors,
            FactorMode w1Mode,
            FactorMode w2Mode,
            int rank,
            double alpha,
            double scale,
            DoraAxis doraAxis,
            DType dtype,
            long numParams) {

        /** Copies the map and its shapes. */
        public ModuleInfo {
            tensors = Collections.unmodifiableMap(copyShapes(tensors));
        }

        /**
         * Suffix to shape, in file order; for a PEFT pointwise {@code Conv1d} module read with its factors
         * swapped (see {@link #notes()}), the suffixes are the roles after the swap, with 2-D shapes.
         *
         * @return a copy (changing it changes nothing here)
         */
        @Override
        public Map<String, long[]> tensors() {
            return copyShapes(tensors);
        }

        private static Map<String, long[]> copyShapes(Map<String, long[]> tensors) {
            Map<String, long[]> copy = new LinkedHashMap<>();
            tensors.forEach((suffix, shape) -> copy.put(suffix, shape.clone()));
            return copy;
        }

        /** Compares every component, the shapes by content. */
        @Override
        public boolean equals(Object o) {
            return o instanceof ModuleInfo m
                    && name.equals(m.name)
                    && shapesText(tensors).equals(shapesText(m.tensors))
                    && w1Mode == m.w1Mode
                    && w2Mode == m.w2Mode
                    && rank == m.rank
                    && Double.compare(alpha, m.alpha) == 0
                    && Double.compare(scale, m.scale) == 0
                    && doraAxis == m.doraAxis
                    && dtype == m.dtype
                    && numParams == m.numParams;
        }

        @Override
        public int hashCode() {
            return Objects.hash(name, shapesText(tensors), w1Mode, w2Mode, rank, alpha, scale, doraAxis, dtype,
                    numParams);
        }

        /**
         * For example {@code lycoris_fc: lokr_w1 [4, 4], lokr_w2_a [8, 2], lokr_w2_b [2, 8], alpha [];
         * w1 FULL, w2 LOW_RANK, rank 2, alpha 2.0, scale 1.0, DoRA NONE, F32, 96 values}.
         *
         * @return the module's name, shapes and options
         */
        @Override
        public String toString() {
            return name + ": " + shapesText(tensors) + "; w1 " + w1Mode + ", w2 " + w2Mode + ", rank " + rank
                    + ", alpha " + alpha + ", scale " + scale + ", DoRA " + doraAxis + ", " + dtype + ", "
                    + numParams + " values";
        }

        private static String shapesText(Map<String, long[]> tensors) {
            StringBuilder sb = new StringBuilder();
            tensors.forEach((suffix, shape) -> {
                if (sb.length() > 0) {
                    sb.append(", ");
                }
                sb.append(suffix).append(' ').append(Arrays.toString(shape));
            });
            return sb.toString();
        }

        /**
         * Whether {@code w2} is a Tucker decomposition.
         *
         * @return true for Tucker
         */
        public boolean tucker() {
            return w2Mode == FactorMode.TUCKER;
        }

        /**
         * Whether {@code w1} is low-rank too (LyCORIS's {@code decompose_both}).
         *
         * @return true when {@code w1} is stored as {@code lokr_w1_a @ lokr_w1_b}
         */
        public boolean decomposeBoth() {
            return w1Mode == FactorMode.LOW_RANK;
        }
    }

    private final Path path;
    private final SafetensorsReader reader;
    private final Format format;
    private final Map<String, Map<String, TensorInfo>> modules;
    private final List<String> otherTensors;
    private final Map<String, ModuleInfo> infos = new LinkedHashMap<>();
    private final Map<String, Object> peftConfig;
    private final List<String> notes = new ArrayList<>();
    /** PEFT pointwise Conv1d modules read with their factors swapped ({@link #swapPointwiseConv1d}), in file order. */
    private final Set<String> swappedModules = new LinkedHashSet<>();

    /**
     * Character reads left for matching PEFT pattern keys against module names, for the whole file: each
     * match is bounded too (see {@link CountedChars}), but many keys just under that bound, times many
     * modules, would still stall the reader. Real configs need a few thousand reads per key and module.
     */
    private long patternReadsLeft = PATTERN_READ_BUDGET;

    /** See {@link #patternReadsLeft}: about a second of matching. */
    static final long PATTERN_READ_BUDGET = 200_000_000L;

    /** Compiled pattern keys, each compiled once. */
    private final Map<String, Pattern> compiledPatterns = new HashMap<>();
    /** Pattern keys as PEFT 0.14 applied them ({@link #peft014Values}), each compiled once; null when Java cannot. */
    private final Map<String, Pattern> compiled014 = new HashMap<>();
    /**
     * Character reads left for matching the keys as PEFT 0.14 did ({@link #peft014Values}), apart from
     * {@link #patternReadsLeft}: that matching only serves a note, so it must neither spend the reads the modules'
     * own patterns need nor refuse a file when it runs out (a key's 0.14 form can backtrack where its current form
     * does not).
     */
    private long peft014ReadsLeft = PATTERN_READ_BUDGET;
    private final Map<String, Map<String, Object>> writtenOptions;

    private AdapterFile(
            Path path, SafetensorsReader reader, Format format, Map<String, Object> peftConfig)
            throws IOException {
        this.path = path;
        this.reader = reader;
        this.format = format;
        this.peftConfig = peftConfig;
        this.modules = new LinkedHashMap<>();
        this.otherTensors = new ArrayList<>();
        group();
        if (format == Format.PEFT) {
            swapPointwiseConv1d();
        }
        this.writtenOptions = readWrittenOptions();
        for (String m : modules.keySet()) {
            infos.put(m, analyse(m));
        }
        if (peftConfig != null && !peftConfig.containsKey("rank_dropout_scale")) {
            noteOldPeftScales();
        } else if (peftConfig != null && !peftConfig.containsKey("peft_version")) {
            notePeft014Patterns();
        }
    }

    /**
     * A config with {@code rank_dropout_scale} but no {@code peft_version} was written by PEFT 0.14 to 0.17. PEFT
     * 0.14 chose a module's {@code r} and {@code alpha} by one pattern key ({@link #peft014Values}); 0.15 and later
     * match {@code rank_pattern} and {@code alpha_pattern} each on its own, as lokr does. Notes the modules whose
     * scale {@code alpha / r} the two rules set apart, each with the multiplier that gives 0.14's delta. No note
     * when a module's stored rank rules out 0.14's {@code r}: PEFT 0.14 did not write the file. Matching the keys as
     * 0.14 did has its own budget of reads and never refuses the file: when it runs out, the note says the rule
     * was not checked.
     */
    private void notePeft014Patterns() {
        Map<Double, List<String>> byMultiplier = new TreeMap<>();
        List<String> zeroScale = new ArrayList<>();
        for (ModuleInfo info : infos.values()) {
            double[] old = peft014Values(info.name());
            if (old == null) {
                note("adapter_config.json has rank_dropout_scale but no peft_version, as PEFT 0.14 to 0.17 write it."
                        + " Whether PEFT 0.14's pattern rule (one key, the first of rank_pattern's and then"
                        + " alpha_pattern's keys that matches, for both r and alpha) gives some module another scale"
                        + " than the current rule, which lokr applies, was not checked: matching the keys as PEFT 0.14"
                        + " applied them, (.*\\.)?KEY$, takes too long (a key that backtracks).");
                return;
            }
            boolean storedRank = info.w1Mode() != FactorMode.FULL || info.w2Mode() != FactorMode.FULL;
            if (storedRank && old[0] != info.rank()) {
                return;   // PEFT 0.14 would have stored this module's factors at another rank: it did not write the file
            }
            double oldScale = old[1] / old[0];
            if (!(old[0] >= 1) || !Double.isFinite(oldScale) || oldScale == info.scale()) {
                continue;   // the same scale, or an r that PEFT 0.14 could not have trained this module with
            }
            double multiplier = oldScale / info.scale();
            if (!Double.isFinite(multiplier)) {
                zeroScale.add(info.name());
            } else {
                byMultiplier.computeIfAbsent(multiplier, k -> new ArrayList<>()).add(info.name());
            }
        }
        if (byMultiplier.isEmpty() && zeroScale.isEmpty()) {
            return;
        }
        StringBuilder text = new StringBuilder("adapter_config.json has rank_dropout_scale but no peft_version, as PEFT"
                + " 0.14 to 0.17 write it. PEFT 0.14 took a module's r and alpha from one pattern key, the first key of"
                + " rank_pattern and then of alpha_pattern that matches the module; 0.15 and later match each pattern"
                + " on its own, and lokr, like current PEFT, does so. The two rules give ")
                .append(count(byMultiplier.values().stream().mapToInt(List::size).sum() + zeroScale.size(), "module"))
                .append(" different scales alpha / r; if the adapter was trained with PEFT 0.14:");
        int shown = 0;
        for (Map.Entry<Double, List<String>> e : byMultiplier.entrySet()) {
            if (shown++ == MAX_NOTED_GROUPS) {
                text.append(" And ").append(count(byMultiplier.size() - MAX_NOTED_GROUPS, "other multiplier"))
                        .append(".");
                break;
            }
            text.append(" Multiplier ").append(e.getKey()).append(" gives its delta for ")
                    .append(count(e.getValue().size(), "module")).append(" (first: ")
                    .append(Json.quote(e.getValue().get(0))).append(").");
        }
        if (!zeroScale.isEmpty()) {
            text.append(" No multiplier gives it for ").append(count(zeroScale.size(), "module")).append(" (first: ")
                    .append(Json.quote(zeroScale.get(0))).append("), whose current scale is 0.");
        }
        if (byMultiplier.size() + (zeroScale.isEmpty() ? 0 : 1) > 1 || byMultiplier.values().stream()
                .mapToInt(List::size).sum() + zeroScale.size() < infos.size()) {
            text.append(" Merge the modules that share a multiplier together (lokr merge --only-modules).");
        }
        note(text.toString());
    }

    /**
     * PEFT 0.13 and older (configs without {@code rank_dropout_scale}, added in 0.14 with the fix) did not
     * apply {@code alpha / r} in LoKr's forward: notes the modules whose {@code alpha} differs from their
     * {@code r}, each with the multiplier {@code r / alpha} that restores the delta it was trained with.
     */
    private void noteOldPeftScales() {
        Map<Double, List<String>> byMultiplier = new TreeMap<>();
        List<String> zeroAlpha = new ArrayList<>();
        for (ModuleInfo info : infos.values()) {
            if (info.alpha() == info.rank()) {
                continue;
            }
            double multiplier = info.rank() / info.alpha();
            if (!Double.isFinite(multiplier)) {
                zeroAlpha.add(info.name());   // alpha 0, or so small that no finite multiplier restores the delta
            } else {
                byMultiplier.computeIfAbsent(multiplier, k -> new ArrayList<>()).add(info.name());
            }
        }
        if (byMultiplier.isEmpty() && zeroAlpha.isEmpty()) {
            return;
        }
        StringBuilder text = new StringBuilder("adapter_config.json looks written by PEFT 0.13 or older (no"
                + " rank_dropout_scale), whose LoKr forward ignored alpha / r; lokr, like current PEFT, applies it.");
        if (byMultiplier.size() == 1 && zeroAlpha.isEmpty() && byMultiplier.values().iterator().next().size()
                == infos.size()) {
            text.append(" To merge the delta the adapter was trained with, use the multiplier r / alpha = ")
                    .append(byMultiplier.keySet().iterator().next());
        } else {
            int shown = 0;
            for (Map.Entry<Double, List<String>> e : byMultiplier.entrySet()) {
                if (shown++ == MAX_NOTED_GROUPS) {
                    text.append(" And ").append(count(byMultiplier.size() - MAX_NOTED_GROUPS, "other multiplier"))
                            .append(" (see each module's alpha and rank in lokr inspect).");
                    break;
                }
                text.append(" Multiplier r / alpha = ").append(e.getKey()).append(" restores ")
                        .append(count(e.getValue().size(), "module")).append(" (first: ")
                        .append(Json.quote(e.getValue().get(0))).append(").");
            }
            if (!zeroAlpha.isEmpty()) {
                text.append(" With alpha 0 (or so small that r / alpha is not finite), the delta of ")
                        .append(count(zeroAlpha.size(), "module")).append(" (first: ")
                        .append(Json.quote(zeroAlpha.get(0))).append(") cannot be restored by a multiplier.");
            }
            if (!byMultiplier.isEmpty()) {   // here several multipliers, or modules that need none or have none
                text.append(" Merge the modules that share a multiplier together (lokr merge --only-modules).");
            }
        }
        note(text.toString().strip());
    }

    /** How many multipliers {@link #noteOldPeftScales} lists before it sums the rest up. */
    private static final int MAX_NOTED_GROUPS = 5;

    private static String count(int n, String noun) {
        return n + " " + noun + (n == 1 ? "" : "s");
    }

    /**
     * Opens an adapter file and detects its layout.
     *
     * @param path the {@code .safetensors} file (for PEFT, {@code adapter_config.json} must be
     *     beside it)
     * @return the open file; close it when done
     * @throws SafetensorsFormatException if the file is not valid safetensors
     * @throws AdapterFormatException if it is not a usable LoKR adapter (no LoKR module, a missing
     *     piece, inconsistent ranks, a missing or bad PEFT config)
     * @throws IOException if reading fails
     */
    public static AdapterFile read(Path path) throws IOException {
        Objects.requireNonNull(path, "path");
        SafetensorsReader reader = SafetensorsReader.open(path);
        try {
            Path config = path.toAbsolutePath().resolveSibling(PEFT_CONFIG);
            boolean peftKeys =
                    !reader.tensors().isEmpty()
                            && reader.tensors().stream()
                                    .allMatch(t -> t.name().startsWith(PEFT_PREFIX));
            boolean peftName =
                    path.getFileName().toString().equals("adapter_model.safetensors")
                            && Files.exists(config);
            Map<String, Object> cfg = null;
            Format format = Format.LYCORIS;
            if (peftKeys || peftName) {
                format = Format.PEFT;
                cfg = readPeftConfig(path, config);
            }
            AdapterFile file = new AdapterFile(path, reader, format, cfg);
            if (file.modules.isEmpty()) {
                throw new AdapterFormatException(
                        path,
                        null,
                        "has no LoKR module (no tensor named <module>.lokr_*; "
                                + reader.tensors().size()
                                + " tensors"
                                + (reader.tensors().isEmpty()
                                        ? ""
                                        : ", first " + Json.quote(reader.tensors().get(0).name()))
                                + ")");
            }
            return file;
        } catch (IOException | RuntimeException e) {
            reader.close();
            throw e;
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> readPeftConfig(Path file, Path config) throws IOException {
        if (!Files.exists(config)) {
            throw new AdapterFormatException(
                    file,
                    null,
                    "PEFT layout (keys start with '"
                            + PEFT_PREFIX
                            + "') but no adapter_config.json beside it at "
                            + config);
        }
        Object parsed;
        try {
            parsed = Heap.parseJson(readConfigText(config), Integer.MAX_VALUE);
        } catch (JsonException e) {
            throw new AdapterFormatException(
                    config,
                    null,
                    e.heapLimitExceeded()
                            ? "adapter_config.json needs more heap to parse than is free; give the JVM more"
                                    + " (-Xmx) to read it: " + e.getMessage()
                            : "adapter_config.json is not valid JSON: " + e.getMessage());
        }
        if (!(parsed instanceof Map)) {
            throw new AdapterFormatException(
                    config,
                    null,
                    "adapter_config.json must be a JSON object, got " + Json.typeName(parsed));
        }
        Map<String, Object> cfg = (Map<String, Object>) parsed;
        Object type = cfg.get("peft_type");
        if (type != null && !"LOKR".equals(type)) {
            throw new AdapterFormatException(config, null, "peft_type must be LOKR, got " + type);
        }
        number(config, cfg, "r", 8);
        number(config, cfg, "alpha", 8);
        for (String key : List.of("rank_pattern", "alpha_pattern")) {
            Object p = cfg.get(key);
            if (p != null && !(p instanceof Map)) {
                throw new AdapterFormatException(
                        config, null, key + " must be a JSON object, got " + Json.typeName(p));
            }
            if (p != null) {
                for (Map.Entry<String, Object> e : ((Map<String, Object>) p).entrySet()) {
                    if (!(e.getValue() instanceof Number)) {
                        throw new AdapterFormatException(
                                config,
                                null,
                                key
                                        + "['"
                                        + e.getKey()
                                        + "'] must be a number, got "
                                        + Json.typeName(e.getValue()));
                    }
                    try {
                        peftPattern(e.getKey());
                    } catch (PatternSyntaxException ex) {
                        throw new AdapterFormatException(
                                config,
                                null,
                                key
                                        + " key '"
                                        + e.getKey()
                                        + "' is not a valid regex (as PEFT uses it, inside (.*\\.)?(...)): "
                                        + ex.getDescription());
                    } catch (StackOverflowError ex) {
                        throw new AdapterFormatException(
                                config, null, key + " key '" + e.getKey() + "' is nested too deeply to compile");
                    }
                }
            }
        }
        return cfg;
    }

    /** The largest {@code adapter_config.json} read; PEFT's are a few kilobytes. */
    static final long MAX_CONFIG_BYTES = 16L << 20;

    private static String readConfigText(Path config) throws IOException {
        SafetensorsReader.requireRegularFile(config);
        long size = Files.size(config);
        if (size > MAX_CONFIG_BYTES) {
            throw new AdapterFormatException(
                    config,
                    null,
                    "adapter_config.json is " + size + " bytes, more than the limit of "
                            + MAX_CONFIG_BYTES);
        }
        ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(config));
        try {
            return StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(bytes)
                    .toString();
        } catch (CharacterCodingException e) {
            throw new AdapterFormatException(
                    config, null, "adapter_config.json is not valid UTF-8 near byte " + bytes.position());
        }
    }

    private static double number(Path config, Map<String, Object> cfg, String key, double fallback)
            throws AdapterFormatException {
        if (!cfg.containsKey(key)) {
            return fallback;
        }
        Object v = cfg.get(key);
        if (!(v instanceof Number)) {
            throw new AdapterFormatException(
                    config, null, key + " must be a number, got " + Json.typeName(v));
        }
        return ((Number) v).doubleValue();
    }

    private void group() throws AdapterFormatException {
        for (TensorInfo t : reader.tensors()) {
            String name = t.name();
            String suffix = null;
            for (String s : SUFFIXES) {
                if (name.endsWith("." + s) && name.length() > s.length() + 1) {
                    suffix = s;
                    break;
                }
            }
            String module =
                    suffix == null ? null : name.substring(0, name.length() - suffix.length() - 1);
            if (module != null && format == Format.PEFT && module.startsWith(PEFT_PREFIX)) {
                // PEFT's own files prefix every key; a file known as PEFT by its name may not
                module = module.substring(PEFT_PREFIX.length());
            }
            if (module == null) {
                requireKnownLokrSuffix(name);
            }
            if (module == null || module.isEmpty()) {
                otherTensors.add(name);
                continue;
            }
            TensorInfo twin = modules.computeIfAbsent(module, k -> new LinkedHashMap<>()).put(suffix, t);
            if (twin != null) {
                throw new AdapterFormatException(path, module, "has two " + suffix + " tensors: "
                        + Json.quote(twin.name()) + " and " + Json.quote(name));
            }
        }
        // A group without any lokr_ tensor (alpha alone, or another algorithm's alpha) is not a
        // LoKR module.
        List<String> drop = new ArrayList<>();
        modules.forEach(
                (m, ts) -> {
                    if (ts.keySet().stream().noneMatch(s -> s.startsWith("lokr_"))) {
                        drop.add(m);
                    }
                });
        for (String m : drop) {
            for (TensorInfo t : modules.remove(m).values()) {
                otherTensors.add(t.name());
            }
        }
        if (!otherTensors.isEmpty()) {
            log.warn(
                    "{}: {} {} not part of a LoKR module (first: {}); a PEFT file's saved modules among them go in"
                            + " place of the base's in a merge, and into plain dense and output layers in lokr-dl4j;"
                            + " the rest is ignored",
                    path,
                    otherTensors.size(),
                    otherTensors.size() == 1 ? "tensor is" : "tensors are",
                    Json.printable(otherTensors.get(0)));
        }
    }

    /**
     * Refuses a tensor {@code <module>.lokr_<x>} whose suffix is none of {@link #SUFFIXES}: it is part of a LoKR
     * module that lokr would read without it. LyCORIS's loaders list {@code lokr_t1}, the Tucker core of
     * {@code w1} in its first LoKr code, beside which {@code lokr_w1_a} and {@code lokr_w1_b} are Tucker factors
     * {@code [r, a]} and {@code [r, c]}, not {@code w1a @ w1b}.
     */
    private void requireKnownLokrSuffix(String name) throws AdapterFormatException {
        int dot = name.lastIndexOf('.');
        if (dot <= 0 || !name.startsWith("lokr_", dot + 1)) {
            return;
        }
        String module = name.substring(0, dot);
        if (format == Format.PEFT && module.startsWith(PEFT_PREFIX)) {
            module = module.substring(PEFT_PREFIX.length());
        }
        String suffix = name.substring(dot + 1);
        throw new AdapterFormatException(path, module, "has tensor " + Json.quote(name) + ", a LoKR tensor that lokr"
                + " does not read (it reads " + String.join(", ", SUFFIXES) + ")"
                + (suffix.equals("lokr_t1") ? ": lokr_t1 is the Tucker core of w1 in LyCORIS's first LoKr code,"
                        + " beside which lokr_w1_a and lokr_w1_b are Tucker factors, not w1a @ w1b" : "")
                + "; refused rather than merged without it");
    }

    @SuppressWarnings("unchecked")
    private Map<String, Map<String, Object>> readWrittenOptions() throws AdapterFormatException {
        String json = reader.metadata().get(META_MODULES);
        if (json == null) {
            return Map.of();
        }
        try {
            Object parsed = Heap.parseJson(json, Integer.MAX_VALUE);
            if (parsed instanceof Map) {
                Map<String, Map<String, Object>> out = new LinkedHashMap<>();
                for (Map.Entry<String, Object> e : ((Map<String, Object>) parsed).entrySet()) {
                    if (e.getValue() instanceof Map) {
                        out.put(e.getKey(), (Map<String, Object>) e.getValue());
                    } else {
                        log.warn(
                                "{}: metadata {} entry {} is {}, not an object; ignored",
                                path,
                                META_MODULES,
                                Json.quote(e.getKey()),
                                Json.typeName(e.getValue()));
                    }
                }
                return out;
            }
            log.warn(
                    "{}: metadata {} is {}, not an object; ignored",
                    path,
                    META_MODULES,
                    Json.typeName(parsed));
        } catch (JsonException e) {
            if (e.heapLimitExceeded()) {
                // not to be ignored: the options it records (DoRA axis, detachNorm, rank) would be lost silently.
                // Defensive: the metadata is inside the header, whose size check leaves enough heap for it
                throw new AdapterFormatException(path, null, "metadata " + META_MODULES + " needs more heap to"
                        + " parse than is free; give the JVM more (-Xmx) to read this file: " + e.getMessage());
            }
            log.warn(
                    "{}: metadata {} is not valid JSON, ignored: {}",
                    path,
                    META_MODULES,
                    e.getMessage());
        }
        return Map.of();
    }

    /** The DoRA axis lokr's writer recorded for a module, or null when it recorded none. */
    private DoraAxis writtenAxis(String module) {
        Map<String, Object> written = writtenOptions.get(module);
        Object v = written == null ? null : written.get("dora");
        if ("INPUT".equals(v)) {
            return DoraAxis.INPUT;
        }
        if ("OUTPUT".equals(v)) {
            return DoraAxis.OUTPUT;
        }
        return null;
    }

    /**
     * PEFT's delta for a {@code Conv1d} module with a full 3-D {@code lokr_w2 [b, d, k]}: its {@code make_kron}
     * widens {@code w1} only for a 4-D {@code w2}, so {@code torch.kron} pads {@code w1 [a, c]} in front and the
     * delta reshaped to {@code [out, in, k]} is {@code delta[(p, i), (q, j), t] = w2[p, q, t] w1[i, j]}: the
     * factors' roles are swapped against LyCORIS's {@code delta[(i, p), (j, q), t]}. With {@code k = 1} that is
     * exactly the LoKR module {@code kron(w2[:, :, 0], w1)}: this reads such a module with the file's
     * {@code lokr_w2} as {@code w1} and its {@code lokr_w1} (or {@code lokr_w1_a}, {@code lokr_w1_b}) as
     * {@code w2}. With {@code k > 1} no LoKR module has that delta; {@link #analyse} refuses it.
     */
    private void swapPointwiseConv1d() {
        for (Map.Entry<String, Map<String, TensorInfo>> e : modules.entrySet()) {
            Map<String, TensorInfo> ts = e.getValue();
            TensorInfo w2 = ts.get("lokr_w2");
            if (w2 == null || w2.shape().length != 3 || w2.shape()[2] != 1 || ts.containsKey("lokr_w2_a")
                    || ts.containsKey("lokr_w2_b") || ts.containsKey("lokr_t2") || !twoDimensional(ts, "lokr_w1")
                    || !twoDimensional(ts, "lokr_w1_a") || !twoDimensional(ts, "lokr_w1_b")) {
                continue;   // not PEFT's pointwise layout: analyse refuses it with the reason
            }
            Map<String, TensorInfo> roles = new LinkedHashMap<>(ts);
            roles.remove("lokr_w1");
            roles.remove("lokr_w1_a");
            roles.remove("lokr_w1_b");
            roles.put("lokr_w1", new TensorInfo(w2.name(), w2.dtype(), new long[] {w2.shape()[0], w2.shape()[1]},
                    w2.byteOffset(), w2.byteLength()));
            roles.remove("lokr_w2");
            if (ts.containsKey("lokr_w1")) {
                roles.put("lokr_w2", ts.get("lokr_w1"));
            }
            if (ts.containsKey("lokr_w1_a")) {
                roles.put("lokr_w2_a", ts.get("lokr_w1_a"));
            }
            if (ts.containsKey("lokr_w1_b")) {
                roles.put("lokr_w2_b", ts.get("lokr_w1_b"));
            }
            e.setValue(roles);
            swappedModules.add(e.getKey());
        }
        if (!swappedModules.isEmpty()) {
            note(count(swappedModules.size(), "PEFT module") + " with a full 3-D lokr_w2 [b, d, 1], as a pointwise"
                    + " Conv1d stores it (first: " + Json.quote(swappedModules.iterator().next()) + "), "
                    + (swappedModules.size() == 1 ? "is" : "are")
                    + " read with w1 and w2 swapped, the order PEFT's torch.kron gives their delta");
        }
    }

    /** Whether the module's {@code suffix} tensor is absent or 2-D. */
    private static boolean twoDimensional(Map<String, TensorInfo> ts, String suffix) {
        TensorInfo t = ts.get(suffix);
        return t == null || t.shape().length == 2;
    }

    /** The key of a module's tensor in the file, as stored (with or without PEFT's prefix). */
    private String fileKey(String module, String suffix) {
        TensorInfo t = modules.get(module).get(suffix);
        if (t != null) {
            return t.name();
        }
        return format == Format.PEFT ? PEFT_PREFIX + module + "." + suffix : module + "." + suffix;
    }

    private AdapterFormatException bad(String module, String problem) {
        return new AdapterFormatException(path, module, problem + (swappedModules.contains(module)
                ? " (a PEFT pointwise Conv1d module, read with its factors swapped: its lokr_w1 is the file's"
                        + " lokr_w2, its lokr_w2 the file's lokr_w1)"
                : ""));
    }

    /** Refuses a low-rank pair {@code name_a [x, r] @ name_b [r, ...]} whose inner dims differ. */
    private void requireInnerDims(String module, String name, TensorInfo a, TensorInfo b)
            throws AdapterFormatException {
        if (a.shape()[1] != b.shape()[0]) {
            throw bad(
                    module,
                    name + "_a " + shape(a) + " and " + name + "_b " + shape(b)
                            + " do not multiply (inner dims differ)");
        }
    }

    /** The error for a module with only one half of the low-rank pair {@code name_a}, {@code name_b}. */
    private AdapterFormatException halfAPair(String module, String name, boolean hasA) {
        String present = name + (hasA ? "_a" : "_b");
        String missing = name + (hasA ? "_b" : "_a");
        return bad(module, "has " + present + " but no " + missing);
    }

    private static String shape(TensorInfo t) {
        return Arrays.toString(t.shape());
    }

    private ModuleInfo analyse(String module) throws IOException {
        Map<String, TensorInfo> ts = modules.get(module);
        TensorInfo w1 = ts.get("lokr_w1");
        TensorInfo w1a = ts.get("lokr_w1_a");
        TensorInfo w1b = ts.get("lokr_w1_b");
        TensorInfo w2 = ts.get("lokr_w2");
        TensorInfo w2a = ts.get("lokr_w2_a");
        TensorInfo w2b = ts.get("lokr_w2_b");
        TensorInfo t2 = ts.get("lokr_t2");
        TensorInfo alphaT = ts.get("alpha");
        TensorInfo dora = ts.get("dora_scale");

        FactorMode w1Mode;
        int r1 = 0;
        if (w1 != null) {
            if (w1a != null || w1b != null) {
                throw bad(
                        module,
                        "has both lokr_w1 and lokr_w1_a/lokr_w1_b; a factor is either full or low-rank");
            }
            requireDims(module, w1, 2);
            w1Mode = FactorMode.FULL;
        } else if (w1a != null && w1b != null) {
            requireDims(module, w1a, 2);
            requireDims(module, w1b, 2);
            requireInnerDims(module, "lokr_w1", w1a, w1b);
            w1Mode = FactorMode.LOW_RANK;
            r1 = rankOf(module, "lokr_w1_b", w1b);
        } else if (w1a != null || w1b != null) {
            throw halfAPair(module, "lokr_w1", w1a != null);
        } else {
            throw bad(module, "has no lokr_w1 (nor lokr_w1_a + lokr_w1_b)");
        }

        FactorMode w2Mode;
        int r2 = 0;
        if (w2 != null) {
            if (w2a != null || w2b != null || t2 != null) {
                throw bad(
                        module,
                        "has both lokr_w2 and lokr_w2_a/lokr_w2_b/lokr_t2; a factor is either full or low-rank");
            }
            if (w2.rank() < 2 || w2.rank() > 4) {
                throw bad(
                        module,
                        "lokr_w2 must be 2-D [b, d], 3-D [b, d, k] (Conv1d) or 4-D [b, d, kh, kw], got "
                                + shape(w2));
            }
            if (format == Format.PEFT && w2.rank() == 3) {
                // see swapPointwiseConv1d: with k = 1 the module was read swapped, and lokr_w2 is 2-D here
                throw bad(module, "is a PEFT Conv1d module with a full 3-D lokr_w2 " + shape(w2) + ": PEFT's"
                        + " torch.kron orders that delta differently from LyCORIS's (the indices of w1 and w2 swap"
                        + " places in its rows and columns), which a LoKR module represents only for a kernel of 1"
                        + " with a 2-D lokr_w1 (or lokr_w1_a and lokr_w1_b) beside it; lokr refuses this one"
                        + " rather than merge another delta");
            }
            w2Mode = FactorMode.FULL;
        } else if (w2a != null && w2b != null) {
            requireDims(module, w2a, 2);
            if (t2 != null) {
                requireDims(module, w2b, 2);
                if (t2.rank() != 3 && t2.rank() != 4) {
                    throw bad(module, "lokr_t2 must be 3-D [r, r, k] (Conv1d) or 4-D [r, r, kh, kw], got "
                            + shape(t2));
                }
                long r = t2.shape()[0];
                if (t2.shape()[1] != r || w2a.shape()[0] != r || w2b.shape()[0] != r) {
                    throw bad(
                            module,
                            "Tucker factors disagree on the rank: lokr_t2 "
                                    + shape(t2)
                                    + " must be [r, r, kh, kw], "
                                    + "lokr_w2_a "
                                    + shape(w2a)
                                    + " [r, b], lokr_w2_b "
                                    + shape(w2b)
                                    + " [r, d]");
                }
                w2Mode = FactorMode.TUCKER;
            } else {
                if (w2b.rank() < 2 || w2b.rank() > 4) {
                    throw bad(
                            module,
                            "lokr_w2_b must be [r, d], [r, d*kh*kw], [r, d, k] (Conv1d) or [r, d, kh, kw], got "
                                    + shape(w2b));
                }
                requireInnerDims(module, "lokr_w2", w2a, w2b);
                w2Mode = FactorMode.LOW_RANK;
            }
            r2 = rankOf(module, "lokr_w2_b", w2b);
        } else if (w2a != null || w2b != null) {
            throw halfAPair(module, "lokr_w2", w2a != null);
        } else {
            throw bad(module, "has no lokr_w2 (nor lokr_w2_a + lokr_w2_b)");
        }
        if (t2 != null && w2Mode != FactorMode.TUCKER) {
            throw bad(module, "has lokr_t2 but no lokr_w2_a + lokr_w2_b");
        }
        if (r1 > 0 && r2 > 0 && r1 != r2) {
            throw bad(
                    module,
                    "lokr_w1_b has rank "
                            + r1
                            + " but lokr_w2_b has rank "
                            + r2
                            + "; one module has one rank");
        }

        for (Map.Entry<String, TensorInfo> e : ts.entrySet()) {
            boolean integerAlpha = e.getKey().equals("alpha") && isInteger(e.getValue().dtype());
            if (!e.getValue().dtype().readable() && !integerAlpha) {
                throw bad(
                        module,
                        e.getKey()
                                + " has dtype "
                                + e.getValue().dtype()
                                + "; LoKR tensors must be "
                                + DType.READABLE);
            }
        }
        DType dtype = (w1 != null ? w1 : w1a).dtype();
        long params = 0;
        for (Map.Entry<String, TensorInfo> e : ts.entrySet()) {
            if (!e.getKey().equals("alpha")) {
                params += e.getValue().numel();
            }
        }
        Map<String, long[]> shapes = new LinkedHashMap<>();
        ts.forEach((k, v) -> shapes.put(k, v.shape()));

        int rank;
        double alpha;
        double scale;
        if (format == Format.PEFT) {
            if (alphaT != null) {
                throw bad(module, "PEFT files store alpha in adapter_config.json, not as a tensor");
            }
            double r = peftValue("rank_pattern", "r", module, 8);
            alpha = peftValue("alpha_pattern", "alpha", module, 8);
            if (!(r >= 1 && r <= Integer.MAX_VALUE && r == Math.rint(r))) {
                throw bad(
                        module,
                        "PEFT rank r must be a whole number from 1 to "
                                + Integer.MAX_VALUE
                                + ", got "
                                + r);
            }
            rank = (int) r;
            int stored = r1 > 0 ? r1 : r2;
            if (stored > 0 && stored != rank) {
                throw bad(
                        module,
                        "adapter_config.json gives rank r = "
                                + rank
                                + " but the low-rank factors have rank "
                                + stored
                                + " (check r and rank_pattern)");
            }
            if (!Double.isFinite(alpha)) {
                throw bad(module, "PEFT alpha must be finite, got " + alpha);
            }
            scale = alpha / rank;
        } else {
            rank = r1 > 0 ? r1 : r2;
            alpha = Double.NaN;
            if (alphaT != null) {
                if (alphaT.numel() != 1) {
                    throw bad(module, "alpha must be a single value, got shape " + shape(alphaT));
                }
                alpha = alphaValue(alphaT);
                if (!Double.isFinite(alpha)) {
                    throw bad(module, "alpha must be finite, got " + alpha);
                }
            }
            if (rank == 0) {
                scale = 1.0;
            } else {
                double a = Double.isNaN(alpha) || alpha == 0 ? rank : alpha;
                scale = a / rank;
            }
        }
        DoraAxis axis = DoraAxis.NONE;
        if (dora != null) {
            long[] s = dora.shape();
            boolean restOnes = true;
            for (int i = 2; i < s.length; i++) {
                restOnes &= s[i] == 1;
            }
            if (s.length >= 2 && s[0] == 1 && s[1] == 1 && restOnes) {
                // [1, 1(, 1, 1)] fits both axes (a layer with one output or one input): the
                // writer's record decides here, the target weight in resolve
                axis = writtenAxis(module) == DoraAxis.INPUT ? DoraAxis.INPUT : DoraAxis.OUTPUT;
            } else if (s.length == 1 || (s.length >= 2 && s[1] == 1 && restOnes)) {
                axis = DoraAxis.OUTPUT;
            } else if (s.length >= 2 && s[0] == 1 && restOnes) {
                axis = DoraAxis.INPUT;
            } else {
                throw bad(
                        module,
                        "dora_scale must be [out, 1(, 1, 1)] or [1, in(, 1, 1)], got "
                                + shape(dora));
            }
        }
        return new ModuleInfo(
                module, shapes, w1Mode, w2Mode, rank, alpha, scale, axis, dtype, params);
    }

    private static boolean isInteger(DType t) {
        return switch (t) {
            case I8, U8, I16, U16, I32, U32, I64, U64 -> true;
            default -> false;
        };
    }

    /**
     * The single value of an {@code alpha} tensor: a float dtype, or an integer one (older LyCORIS code
     * registers {@code torch.tensor(lora_dim)}, an I64).
     */
    private double alphaValue(TensorInfo t) throws IOException {
        if (t.dtype().readable()) {
            return reader.readDoubles(t.name())[0];
        }
        ByteBuffer b = reader.raw(t.name()).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        return switch (t.dtype()) {
            case I8 -> b.get(0);
            case U8 -> b.get(0) & 0xFF;
            case I16 -> b.getShort(0);
            case U16 -> b.getShort(0) & 0xFFFF;
            case I32 -> b.getInt(0);
            case U32 -> b.getInt(0) & 0xFFFFFFFFL;
            case I64 -> (double) b.getLong(0);
            case U64 -> Double.parseDouble(Long.toUnsignedString(b.getLong(0)));
            default -> throw new IllegalStateException("not an integer dtype: " + t.dtype());
        };
    }

    /** The rank a low-rank pair's {@code _b} tensor stores: its first dimension, from 1 to 2^31 - 1. */
    private int rankOf(String module, String name, TensorInfo b) throws AdapterFormatException {
        long r = b.shape()[0];
        if (r < 1 || r > Integer.MAX_VALUE) {
            throw bad(module, name + " " + shape(b) + " stores rank " + r + "; a rank is from 1 to 2^31 - 1");
        }
        return (int) r;
    }

    private void requireDims(String module, TensorInfo t, int dims) throws AdapterFormatException {
        if (t.rank() != dims) {
            String suffix = t.name().substring(t.name().lastIndexOf('.') + 1);
            throw bad(module, suffix + " must be " + dims + "-D, got " + shape(t));
        }
    }

    @SuppressWarnings("unchecked")
    private double peftValue(String patternKey, String key, String module, double fallback)
            throws AdapterFormatException {
        Object patterns = peftConfig.get(patternKey);
        if (patterns instanceof Map) {
            for (Map.Entry<String, Object> e : ((Map<String, Object>) patterns).entrySet()) {
                // PEFT's get_pattern_key: re.match(rf"(.*\.)?({key})$", module) with the first key
                // that matches.
                Pattern pattern = compiledPatterns.computeIfAbsent(e.getKey(), AdapterFile::peftPattern);
                if (patternMatches(module, patternKey, e.getKey(), pattern)) {
                    return ((Number) e.getValue()).doubleValue();
                }
            }
        }
        Object v = peftConfig.get(key);
        return v == null ? fallback : ((Number) v).doubleValue();
    }

    /** Whether a pattern key matches a module's whole name, within the file's budget of character reads. */
    private boolean patternMatches(String module, String patternKey, String key, Pattern pattern)
            throws AdapterFormatException {
        CountedChars name = new CountedChars(module, patternReadsLeft);
        try {
            return pattern.matcher(name).matches();
        } catch (CountedChars.Exhausted | StackOverflowError ex) {
            if (name.fileBudgetSpent()) {
                throw bad(module, "the rank_pattern and alpha_pattern keys need more than " + PATTERN_READ_BUDGET
                        + " character reads in all to match this file's module names (patterns that "
                        + "backtrack, or very many keys); simplify them");
            }
            throw bad(module, patternKey + " key '" + key + "' takes too long to match this module's "
                    + "name (a pattern that backtracks without end); simplify the pattern");
        } finally {
            patternReadsLeft -= name.reads();
        }
    }

    /**
     * A module's {@code r} and {@code alpha} as PEFT 0.14 and older chose them: the first key of {@code
     * rank_pattern}, then of {@code alpha_pattern}, that {@code re.match(rf"(.*\.)?{key}$", module)} accepts
     * gives both, each from its own pattern when that pattern has the key, else from {@code r} / {@code alpha}.
     *
     * @return {@code {r, alpha}}, or null if a match ran out of reads ({@link #peft014ReadsLeft}, or one match's
     *     bound)
     */
    @SuppressWarnings("unchecked")
    private double[] peft014Values(String module) {
        Map<String, Object> ranks = peftConfig.get("rank_pattern") instanceof Map
                ? (Map<String, Object>) peftConfig.get("rank_pattern") : Map.of();
        Map<String, Object> alphas = peftConfig.get("alpha_pattern") instanceof Map
                ? (Map<String, Object>) peftConfig.get("alpha_pattern") : Map.of();
        String chosen = null;
        for (Map.Entry<String, Map<String, Object>> group : List.of(Map.entry("rank_pattern", ranks),
                Map.entry("alpha_pattern", alphas))) {
            for (String key : group.getValue().keySet()) {
                if (!compiled014.containsKey(key)) {
                    compiled014.put(key, peft014Pattern(key));
                }
                Pattern pattern = compiled014.get(key);
                if (pattern == null) {
                    continue;
                }
                // re.match: a prefix of the name, the pattern ending with $
                CountedChars name = new CountedChars(module, peft014ReadsLeft);
                boolean matches;
                try {
                    matches = pattern.matcher(name).lookingAt();
                } catch (CountedChars.Exhausted | StackOverflowError e) {
                    return null;
                } finally {
                    peft014ReadsLeft -= name.reads();
                }
                if (matches) {
                    chosen = key;
                    break;
                }
            }
            if (chosen != null) {
                break;
            }
        }
        Object r = chosen != null && ranks.containsKey(chosen) ? ranks.get(chosen) : peftConfig.get("r");
        Object alpha = chosen != null && alphas.containsKey(chosen) ? alphas.get(chosen) : peftConfig.get("alpha");
        return new double[] {r == null ? 8 : ((Number) r).doubleValue(), alpha == null ? 8 : ((Number) alpha).doubleValue()};
    }

    /** A pattern key as PEFT 0.14 and older applied it (with {@code re.match}), or null if Java cannot compile it. */
    private static Pattern peft014Pattern(String key) {
        try {
            return Pattern.compile("(.*\\.)?" + key + "$", Pattern.UNIX_LINES);
        } catch (PatternSyntaxException | StackOverflowError e) {
            return null;   // PEFT 0.14 could not have applied it either, or lokr cannot tell: no note from this key
        }
    }

    /** A {@code rank_pattern} / {@code alpha_pattern} key as PEFT applies it to a module name. */
    private static Pattern peftPattern(String key) {
        return Pattern.compile("(.*\\.)?(" + key + ")");
    }

    /**
     * A module name whose character reads are counted, so that a hostile pattern that backtracks
     * exponentially is stopped (Java's regex engine has no time limit): one match may read a name of
     * {@code n} characters {@code 10^6 + 1000 n} times, far above what a PEFT pattern needs, and no more
     * than the file has left.
     */
    private static final class CountedChars implements CharSequence {
        private final String s;
        private final long allowed;
        private final boolean fileBound;
        private long reads;

        CountedChars(String s, long fileLeft) {
            this.s = s;
            long perMatch = 1_000_000L + 1000L * s.length();
            this.allowed = Math.max(0, Math.min(perMatch, fileLeft));
            this.fileBound = fileLeft < perMatch;
        }

        @Override
        public char charAt(int index) {
            if (++reads > allowed) {
                throw new Exhausted();
            }
            return s.charAt(index);
        }

        /** @return the reads so far */
        long reads() {
            return Math.min(reads, allowed);
        }

        /** @return whether the reads ran out because the file's budget did */
        boolean fileBudgetSpent() {
            return fileBound && reads > allowed;
        }

        @Override
        public int length() {
            return s.length();
        }

        @Override
        public CharSequence subSequence(int start, int end) {
            return s.subSequence(start, end);
        }

        @Override
        public String toString() {
            return s;
        }

        /** Thrown when the reads are used up. */
        static final class Exhausted extends RuntimeException {
            Exhausted() {
                super(null, null, false, false);
            }
        }
    }

    /**
     * The file.
     *
     * @return its path
     */
    public Path path() {
        return path;
    }

    /**
     * The detected layout.
     *
     * @return LYCORIS or PEFT
     */
    public Format format() {
        return format;
    }

    /**
     * The header's {@code __metadata__}.
     *
     * @return an unmodifiable map, empty when there is none
     */
    public Map<String, String> metadata() {
        return reader.metadata();
    }

    /**
     * The PEFT {@code adapter_config.json}.
     *
     * @return the parsed object, or null for a LyCORIS file
     */
    public Map<String, Object> peftConfig() {
        return peftConfig == null ? null : Collections.unmodifiableMap(peftConfig);
    }

    /**
     * The LoKR modules, in file order.
     *
     * @return the names as stored (LyCORIS: {@code lycoris_...}; PEFT: the module path)
     */
    public List<String> modules() {
        return List.copyOf(modules.keySet());
    }

    /**
     * One of the {@link #otherTensors()}, read as {@code type}: for a PEFT file's saved modules, which
     * {@code lokr-dl4j} copies into a network's layers.
     *
     * @param name a name from {@link #otherTensors()}
     * @param type FLOAT or DOUBLE
     * @return a new array of the tensor's shape
     * @throws IllegalArgumentException if {@code name} is not one of them, or {@code type} is neither FLOAT nor
     *     DOUBLE
     * @throws UnsupportedOperationException if the tensor's dtype holds no values lokr reads (I64, BOOL, ...)
     * @throws IOException if reading fails
     */
    public INDArray readOtherTensor(String name, DataType type) throws IOException {
        if (!otherTensors.contains(name)) {
            throw new IllegalArgumentException("no tensor " + Json.quote(name) + " outside the LoKR modules of " + path);
        }
        return reader.read(name, type);
    }

    /** The open reader of the adapter file, for {@link AdapterMerge}'s saved modules; closed with this file. */
    SafetensorsReader reader() {
        return reader;
    }

    /**
     * Tensors that belong to no LoKR module: another algorithm's, a PEFT file's whole saved modules
     * ({@code modules_to_save}, saved embeddings), or unknown. {@link AdapterMerge} puts a PEFT file's saved
     * modules in place of the base's tensors ({@link AdapterMerge.SavedModules}), and lokr-dl4j copies them into
     * plain dense and output layers; the rest is ignored.
     *
     * @return their names
     */
    public List<String> otherTensors() {
        return Collections.unmodifiableList(otherTensors);
    }

    /**
     * The candidates for a PEFT file's saved modules ({@code modules_to_save}, saved embeddings): its
     * {@link #otherTensors()} named {@code base_model.model.<path>}, each with that path in the model
     * ({@code classifier.weight} for {@code base_model.model.classifier.weight}). Which of them are saved modules
     * depends on what they name: a base tensor for {@link AdapterMerge}, a layer for lokr-dl4j.
     *
     * @return tensor name to path, in file order; empty for a LyCORIS file
     */
    public Map<String, String> savedModuleTensors() {
        Map<String, String> out = new LinkedHashMap<>();
        if (format == Format.PEFT) {
            for (String name : otherTensors) {
                if (name.startsWith(PEFT_PREFIX)) {
                    out.put(name, name.substring(PEFT_PREFIX.length()));
                }
            }
        }
        return Collections.unmodifiableMap(out);
    }

    /**
     * What a user of this file should know that does not stop it being read: that a PEFT config looks
     * written by PEFT 0.13 or older, which trained without {@code alpha / r}, that PEFT 0.14's pattern rule
     * gives some modules of a config from PEFT 0.14 to 0.17 another scale, and that PEFT {@code Conv1d}
     * modules with a full {@code lokr_w2 [b, d, 1]} are read with {@code w1} and {@code w2} swapped. Each
     * note is also logged as a warning.
     *
     * @return the notes, in the order found; empty for most files
     */
    public List<String> notes() {
        return Collections.unmodifiableList(notes);
    }

    private void note(String text) {
        notes.add(text);
        log.warn("{}: {}", path, text);
    }

    /**
     * What one module holds.
     *
     * @param module a name from {@link #modules()}
     * @return its description
     * @throws IllegalArgumentException if there is no such module
     */
    public ModuleInfo moduleInfo(String module) {
        ModuleInfo info = infos.get(module);
        if (info == null) {
            throw new IllegalArgumentException(
                    "no LoKR module " + Json.quote(module) + " in " + path);
        }
        return info;
    }

    /**
     * The names under which a module path ({@code blocks.0.attn.q}) may appear in this file.
     *
     * @param modulePath the dotted path of the layer, without {@code .weight}
     * @return PEFT: the path itself; LyCORIS: each prefix of {@link #LYCORIS_PREFIXES} plus the
     *     path with {@code .} replaced by {@code _}
     */
    public List<String> candidateNames(String modulePath) {
        if (format == Format.PEFT) {
            return List.of(modulePath);
        }
        String flat = modulePath.replace('.', '_');
        List<String> out = new ArrayList<>();
        for (String p : LYCORIS_PREFIXES) {
            out.add(p + flat);
        }
        return out;
    }

    /**
     * Reads one module into core parameters for a target weight.
     *
     * <p>{@code a, c} come from {@code w1}, {@code b = out / a}, {@code d = in / c}; every tensor
     * is checked against those and the kernel. The result has no scalar (it is folded into {@code
     * w1}), the file's scale, and DoRA when {@code dora_scale} is present.
     *
     * @param module a name from {@link #modules()}
     * @param weightShape the target weight {@code [out, in]} or {@code [out, in, kh, kw]}, not
     *     modified
     * @param type FLOAT or DOUBLE
     * @return new parameters with a {@link LokrLayout#explicit} layout
     * @throws AdapterFormatException if a tensor does not fit the weight (the message names the
     *     module and both shapes), or the scale is beyond FLOAT's range for a FLOAT {@code type}
     * @throws IllegalArgumentException if there is no such module, the type is not FLOAT/DOUBLE, or a
     *     dimension of the target weight is not in [1, 2^31)
     * @throws IllegalStateException if this file was closed
     * @throws IOException if reading fails
     */
    public LokrParams resolve(String module, long[] weightShape, DataType type) throws IOException {
        ModuleInfo info = moduleInfo(module);
        Objects.requireNonNull(weightShape, "weightShape");
        if (type != DataType.FLOAT && type != DataType.DOUBLE) {
            throw new IllegalArgumentException("type must be FLOAT or DOUBLE, got " + type);
        }
        long[] ws = weightShape.clone();
        String target = Arrays.toString(ws);
        if (ws.length < 2 || ws.length > 4) {
            throw bad(module, "target weight must be [out, in], [out, in, k] (Conv1d) or [out, in, kh, kw], got "
                    + target);
        }
        for (long dim : ws) {
            if (dim < 1 || dim > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("module " + Json.quote(module) + ": target weight dims must be in"
                        + " [1, 2^31), got " + target);
            }
        }
        if (ws.length == 3) {
            ws = new long[] {ws[0], ws[1], ws[2], 1};   // a Conv1d weight: a conv kernel [k, 1]
        }
        Map<String, TensorInfo> ts = modules.get(module);
        boolean conv = ws.length == 4;
        long out = ws[0];
        long in = ws[1];
        long k = conv ? ws[2] * ws[3] : 1;

        long a;
        long c;
        Map<LokrParam, INDArray> arrays = new EnumMap<>(LokrParam.class);
        if (info.w1Mode() == FactorMode.FULL) {
            long[] s = ts.get("lokr_w1").shape();
            a = s[0];
            c = s[1];
        } else {
            a = ts.get("lokr_w1_a").shape()[0];
            c = ts.get("lokr_w1_b").shape()[1];
        }
        String w1Desc = "w1 [" + a + ", " + c + "]";
        if (a < 1 || c < 1 || out % a != 0 || in % c != 0) {
            throw bad(
                    module,
                    w1Desc
                            + " does not divide the target weight "
                            + target
                            + " (out must be a multiple of "
                            + a
                            + " and in of "
                            + c
                            + ")");
        }
        long b = out / a;
        long d = in / c;
        int rank;
        if (info.w1Mode() == FactorMode.FULL) {
            arrays.put(LokrParam.W1, read(module, "lokr_w1", type));
        } else {
            arrays.put(LokrParam.W1_A, read(module, "lokr_w1_a", type));
            arrays.put(LokrParam.W1_B, read(module, "lokr_w1_b", type));
        }
        String needs = " but target weight " + target + " with " + w1Desc + " needs ";
        switch (info.w2Mode()) {
            case FULL -> {
                TensorInfo w2 = ts.get("lokr_w2");
                long[] want = conv ? new long[] {b, d, ws[2], ws[3]} : new long[] {b, d};
                long[] s = w2.shape();
                boolean ok =
                        Arrays.equals(s, want)
                                || (conv && k == 1 && Arrays.equals(s, new long[] {b, d}))
                                || (conv && ws[3] == 1 && Arrays.equals(s, new long[] {b, d, ws[2]}));
                if (!ok) {
                    throw bad(
                            module,
                            "lokr_w2 is " + Arrays.toString(s) + needs + Arrays.toString(want));
                }
                arrays.put(LokrParam.W2, read(module, "lokr_w2", type).reshape('c', want));
                rank = ranks(module, info);
            }
            case LOW_RANK -> {
                long[] sa = ts.get("lokr_w2_a").shape();
                long[] sb = ts.get("lokr_w2_b").shape();
                long r = sa[1];
                if (sa[0] != b) {
                    throw bad(
                            module,
                            "lokr_w2_a is " + Arrays.toString(sa) + needs + "[" + b + ", r]");
                }
                boolean flat = sb.length == 2 && sb[1] == d * k;
                boolean full4 =
                        sb.length == 4 && conv && sb[1] == d && sb[2] == ws[2] && sb[3] == ws[3];
                boolean full3 = sb.length == 3 && conv && ws[3] == 1 && sb[1] == d && sb[2] == ws[2];
                if (!flat && !full4 && !full3) {
                    throw bad(
                            module,
                            "lokr_w2_b is "
                                    + Arrays.toString(sb)
                                    + needs
                                    + "["
                                    + r
                                    + ", "
                                    + (d * k)
                                    + "]"
                                    + (conv
                                            ? " or [" + r + ", " + d + ", " + ws[2] + ", " + ws[3]
                                                    + "]"
                                            : ""));
                }
                arrays.put(LokrParam.W2_A, read(module, "lokr_w2_a", type));
                arrays.put(
                        LokrParam.W2_B,
                        read(module, "lokr_w2_b", type).reshape('c', new long[] {r, d * k}));
                rank = (int) r;
            }
            case TUCKER -> {
                long[] st = ts.get("lokr_t2").shape();
                long[] sa = ts.get("lokr_w2_a").shape();
                long[] sb = ts.get("lokr_w2_b").shape();
                long r = st[0];
                if (!conv) {
                    throw bad(
                            module,
                            "Tucker lokr_t2 "
                                    + Arrays.toString(st)
                                    + " needs a conv weight, got "
                                    + target);
                }
                boolean kernelFits =
                        st.length == 3 ? st[2] == ws[2] && ws[3] == 1 : st[2] == ws[2] && st[3] == ws[3];
                if (!kernelFits) {
                    throw bad(
                            module,
                            "lokr_t2 is "
                                    + Arrays.toString(st)
                                    + " but the target weight "
                                    + target
                                    + " has kernel ["
                                    + ws[2]
                                    + ", "
                                    + ws[3]
                                    + "]");
                }
                if (sa[1] != b) {
                    throw bad(
                            module,
                            "lokr_w2_a is "
                                    + Arrays.toString(sa)
                                    + needs
                                    + "["
                                    + r
                                    + ", "
                                    + b
                                    + "]");
                }
                if (sb[1] != d) {
                    throw bad(
                            module,
                            "lokr_w2_b is "
                                    + Arrays.toString(sb)
                                    + needs
                                    + "["
                                    + r
                                    + ", "
                                    + d
                                    + "]");
                }
                arrays.put(
                        LokrParam.T2,
                        read(module, "lokr_t2", type).reshape('c', new long[] {r, r, ws[2], ws[3]}));
                arrays.put(LokrParam.W2_A, read(module, "lokr_w2_a", type));
                arrays.put(LokrParam.W2_B, read(module, "lokr_w2_b", type));
                rank = (int) r;
            }
            default -> throw new IllegalStateException(info.w2Mode().toString());
        }
        DoraAxis axis = info.doraAxis();
        if (axis != DoraAxis.NONE) {
            long[] s = ts.get("dora_scale").shape();
            long numel = ts.get("dora_scale").numel();
            if (numel == 1 && s.length >= 2 && writtenAxis(module) == null) {
                // one magnitude for [1, 1(, 1, 1)]: the axis whose length is 1
                axis = out == 1 ? DoraAxis.OUTPUT : in == 1 ? DoraAxis.INPUT : axis;
            }
            long n = axis == DoraAxis.OUTPUT ? out : in;
            if (numel != n) {
                throw bad(
                        module,
                        "dora_scale is "
                                + Arrays.toString(s)
                                + " but target weight "
                                + target
                                + " needs "
                                + (axis == DoraAxis.OUTPUT
                                        ? "[" + out + ", 1...] (output axis)"
                                        : "[1, " + in + ", ...] (input axis)"));
            }
            arrays.put(
                    LokrParam.MAGNITUDE,
                    read(module, "dora_scale", type).reshape('c', new long[] {n}));
        }
        Map<String, Object> written = writtenOptions.get(module);
        boolean detach = written != null && Boolean.TRUE.equals(written.get("detachNorm"));
        if (type == DataType.FLOAT && Math.abs(info.scale()) > Float.MAX_VALUE) {
            throw bad(module, "has scale " + info.scale() + ", beyond FLOAT's range (" + Float.MAX_VALUE
                    + "): it cannot be resolved as FLOAT");
        }
        try {
            LokrLayout layout =
                    LokrLayout.explicit(
                            ws,
                            (int) a,
                            (int) b,
                            (int) c,
                            (int) d,
                            Math.max(1, rank),
                            info.w1Mode(),
                            info.w2Mode(),
                            info.scale(),
                            false,
                            axis,
                            detach);
            return LokrParams.of(layout, arrays);
        } catch (IllegalArgumentException e) {
            throw bad(module, "does not fit target weight " + target + ": " + e.getMessage());
        }
    }

    /**
     * The rank for a layout whose w2 is full: w1's rank, else the writer's record, else PEFT's r,
     * else 1.
     */
    private int ranks(String module, ModuleInfo info) {
        if (info.w1Mode() == FactorMode.LOW_RANK) {
            return (int) modules.get(module).get("lokr_w1_b").shape()[0];
        }
        Map<String, Object> written = writtenOptions.get(module);
        if (written != null && written.get("rank") instanceof Number n && n.intValue() > 0) {
            return n.intValue();
        }
        return Math.max(1, info.rank());
    }

    /** Reads one tensor, refusing NaN and infinities (which would spread through every merged weight). */
    private INDArray read(String module, String suffix, DataType type) throws IOException {
        INDArray values = reader.read(fileKey(module, suffix), type);
        TensorInfo role = modules.get(module).get(suffix);
        if (role != null && !Arrays.equals(role.shape(), values.shape())) {
            values = values.reshape('c', role.shape());   // a role read in another shape (swapPointwiseConv1d)
        }
        // every float and double value fits F64: this finds exactly the NaNs and infinities
        FiniteValues.Unfit unfit = FiniteValues.first(values, DType.F64, null);
        if (unfit != null) {
            throw bad(
                    module,
                    suffix
                            + " holds a non-finite value ("
                            + unfit.describe()
                            + (type == DataType.FLOAT ? ", read as float32" : "")
                            + "); an adapter's factors must be finite");
        }
        return values;
    }

    /**
     * Closes the file (its memory mapping is released when the JVM collects it). Idempotent. Afterwards what came from the header keeps working ({@link #modules()},
     * {@link #moduleInfo}, {@link #metadata()}, {@link #format()}), and {@link #resolve} throws
     * {@link IllegalStateException}.
     *
     * @throws IOException if closing fails
     */
    @Override
    public void close() throws IOException {
        reader.close();
    }

    @Override
    public String toString() {
        return "AdapterFile[" + path + ", " + format + ", " + modules.size() + " modules]";
    }
}
