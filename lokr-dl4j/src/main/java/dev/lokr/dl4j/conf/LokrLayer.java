package dev.lokr.dl4j.conf;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.layers.LokrConvolutionLayerImpl;
import dev.lokr.dl4j.layers.LokrDenseLayerImpl;
import dev.lokr.dl4j.layers.LokrOutputLayerImpl;
import dev.lokr.dl4j.params.LokrParamInitializer;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParam;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.dropout.IDropout;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.Convolution1D;
import org.deeplearning4j.nn.conf.layers.Convolution1DLayer;
import org.deeplearning4j.nn.conf.layers.Convolution2D;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.shade.jackson.annotation.JsonIgnore;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Configuration of a LoKR-adapted layer: a standard DL4J layer configuration (the {@linkplain #getBase() base})
 * whose weight {@code W} and bias {@code b} are frozen, plus a LoKR adapter whose tensors train.
 *
 * <p>The adapted layer computes the base layer's function with the effective weight
 * {@code W' = W + dW}, {@code dW = multiplier * scale * scalar * kron(w1, w2)} (or its DoRA form, see
 * {@code dev.lokr.math.LokrWeights}). Supported bases (exact classes): {@link DenseLayer} (without layer
 * norm), {@link OutputLayer}, {@link ConvolutionLayer}/{@link Convolution2D} and
 * {@link Convolution1DLayer}/{@link Convolution1D}; none may use weight noise. The adapter's tensors are
 * laid out for the PyTorch-layout weight {@link #weightShape()}: {@code [nOut, nIn]} (dense),
 * {@code [nOut, nIn, kH, kW]} (2-D conv), {@code [nOut, nIn, k, 1]} (1-D conv).
 *
 * <p>Parameters (see {@link LokrParamInitializer}): the base's own ({@code W}, {@code b}, in the base
 * initializer's layout and order), then {@link #paramKey} ({@code lokrW1}, ...) for each {@link LokrParam} of the
 * {@linkplain #layout() layout}, in canonical order. {@code W} and {@code b} get the {@link NoOp} updater,
 * no regularization, and always a zero gradient; the adapter tensors get {@link #getUpdater()} (default:
 * the base's weight updater). The factors take the base's weight regularization; the DoRA magnitude and
 * the scalar take its bias regularization.
 *
 * <p>The LoKR options are stored as plain fields with a getter and a setter each (DL4J serializes layer
 * configurations with Jackson); {@link #options()} rebuilds and validates the {@link LokrAdapter}. The
 * {@code multiplier} and {@code enabled} fields may be changed at any time (also at inference), from
 * any thread; the runtime layer reads them on every forward pass, and a pass that starts after the
 * change sees it (set them between passes: one running meanwhile may see either value). So may the dropouts; the seed too, but it only
 * affects adapters initialised later; the updater only before the network's first {@code fit}, when
 * DL4J builds its updater (after it, use {@code LokrNetwork.setLearningRate} for the rate).
 * The options that shape the adapter's tensors ({@code rank}, {@code alpha}, {@code factor},
 * {@code decomposeBoth}, {@code tucker}, {@code scalar}, {@code dora}, {@code doraOnInput},
 * {@code detachNorm}, {@code rsLora}, {@code fullMatrix}, {@code unbalancedFactorization}, {@code scale},
 * {@code plan}) cannot change once a network is built from the configuration: their setters then throw
 * {@link IllegalStateException} for a new value (the running layer keeps its plan, while a clone or a
 * saved model would plan anew).
 *
 * <p>Built by hand into a {@code NeuralNetConfiguration} (rather than by {@code LokrNetworks}), the base
 * must carry its own weight init, bias init (when it has a bias), activation and updater (and convolution mode
 * for a conv base): DL4J
 * copies the builder's defaults only into its own layer types, and {@link #instantiate} refuses a base
 * without them. For the same reason {@code TransferLearning}'s {@code FineTuneConfiguration} does not
 * change the adapter's updater; use {@link #setUpdater}. This layer's weight and bias constraints are
 * applied to the adapter tensors only (weight constraints, and ones that name no parameter, to the
 * Kronecker factors, not to the DoRA magnitude or scalar gain unless they name only adapter tensors; a bias
 * constraint names only the frozen bias and constrains nothing); the base's own constraints, meant for the frozen {@code W} and
 * {@code b}, are not applied. A base changed after the network was built into one this layer cannot honour (weight noise, layer norm, a
 * bias switched on or off, another {@code nIn}, {@code nOut} or kernel size) is refused at the next pass;
 * {@link #setBase} refuses a base of another weight shape at once.
 */
public class LokrLayer extends Layer {

    /**
     * Prefix of the adapter parameter keys: {@code lokrW1}, {@code lokrW2a}, ... (DL4J splits network
     * parameter keys at the last underscore, so the keys have none).
     */
    public static final String PARAM_PREFIX = "lokr";

    private static final long serialVersionUID = 1L;

    private Layer base;
    private int rank = 4;
    private double alpha = 1.0;
    private int factor = -1;
    private boolean decomposeBoth;
    private boolean tucker;
    private boolean scalar;
    private boolean dora;
    private boolean doraOnInput;
    private boolean detachNorm;
    private boolean rsLora;
    private boolean fullMatrix;
    private boolean unbalancedFactorization;
    // read by every pass and changeable at any time, from any thread: volatile, so a change is seen by the next pass
    private volatile double rankDropout;
    private volatile boolean rankDropoutScale;
    private volatile double moduleDropout;
    private volatile double multiplier = 1.0;
    private long seed;
    private volatile boolean enabled = true;
    private Double scale;
    private LokrPlan plan;
    private IUpdater updater;
    /**
     * Set once a network is built from this configuration: from then on the options that shape the adapter's
     * tensors cannot change (transient: not serialized, so a configuration read back is free again).
     */
    private transient boolean built;

    /** For Jackson only; use {@link #LokrLayer(Layer, LokrAdapter)}. */
    public LokrLayer() {
    }

    /**
     * Wraps a base layer configuration with a LoKR adapter.
     *
     * @param base    the layer to adapt (not copied; its name becomes this layer's name)
     * @param options the adapter options
     * @throws IllegalArgumentException if the base is not supported (see the class comment)
     */
    public LokrLayer(Layer base, LokrAdapter options) {
        Objects.requireNonNull(options, "options");
        setBase(base);
        this.layerName = base.getLayerName();
        this.rank = options.rank();
        this.alpha = options.alpha();
        this.factor = options.factor();
        this.decomposeBoth = options.decomposeBoth();
        this.tucker = options.tucker();
        this.scalar = options.scalar();
        this.dora = options.dora();
        this.doraOnInput = options.doraOnInput();
        this.detachNorm = options.detachNorm();
        this.rsLora = options.rsLora();
        this.fullMatrix = options.fullMatrix();
        this.unbalancedFactorization = options.unbalancedFactorization();
        this.rankDropout = options.rankDropout();
        this.rankDropoutScale = options.rankDropoutScale();
        this.moduleDropout = options.moduleDropout();
        this.multiplier = options.multiplier();
        this.seed = options.seed();
    }

    /**
     * Why a layer configuration cannot take a LoKR adapter.
     *
     * @param layer a layer configuration
     * @return null if it is supported, else the reason (naming its type)
     */
    public static String unsupportedReason(Layer layer) {
        if (layer == null) {
            return "the layer is null";
        }
        Class<?> type = layer.getClass();
        String name = type.getSimpleName();
        boolean dense = type == DenseLayer.class || type == OutputLayer.class;
        boolean conv = type == ConvolutionLayer.class || type == Convolution2D.class
                || type == Convolution1DLayer.class || type == Convolution1D.class;
        if (!dense && !conv) {
            return "type " + name + " is not supported; supported types are DenseLayer, OutputLayer, "
                    + "ConvolutionLayer (Convolution2D) and Convolution1DLayer (Convolution1D)";
        }
        if (layer instanceof DenseLayer && ((DenseLayer) layer).hasLayerNorm()) {
            return "DenseLayer with layer norm (hasLayerNorm=true) is not supported";
        }
        if (((BaseLayer) layer).getWeightNoise() != null) {
            return name + " with weight noise " + ((BaseLayer) layer).getWeightNoise()
                    + " is not supported (the base weight is frozen)";
        }
        return null;
    }

    /**
     * @return the wrapped (base) layer configuration, live (not a copy): the running layer reads it on every
     *     pass, so a change of its dropout or activation applies at the next pass; a change that the adapter's
     *     tensors cannot follow (its {@code nIn}, {@code nOut} or kernel size, weight noise, layer norm, its
     *     bias) is refused at the next pass
     */
    public Layer getBase() {
        return base;
    }

    /**
     * @param base the layer to adapt
     * @throws IllegalArgumentException if it is not supported
     * @throws IllegalStateException if a network is built from this configuration and {@code base} has another
     *     weight shape than the current base (the adapter's tensors are planned for that shape)
     */
    public void setBase(Layer base) {
        String reason = unsupportedReason(base);
        if (reason != null) {
            String name = base == null ? null : base.getLayerName();
            throw new IllegalArgumentException("layer '" + name + "' cannot take a LoKR adapter: " + reason);
        }
        if (built && this.base != null && !Arrays.equals(weightShape(this.base), weightShape(base))) {
            throw new IllegalStateException("layer '" + layerName + "': the base's weight shape cannot change from "
                    + Arrays.toString(weightShape(this.base)) + " to " + Arrays.toString(weightShape(base))
                    + " once a network is built from this configuration (the adapter's tensors are planned for it);"
                    + " merge() the network and apply a new adapter");
        }
        this.base = base;
    }

    /**
     * @return the adapter options held by this configuration, validated
     * @throws IllegalArgumentException if a field holds an invalid value
     */
    public LokrAdapter options() {
        return LokrAdapter.builder()
                .rank(rank).alpha(alpha).factor(factor)
                .decomposeBoth(decomposeBoth).tucker(tucker).scalar(scalar)
                .dora(dora).doraOnInput(doraOnInput).detachNorm(detachNorm)
                .rsLora(rsLora).fullMatrix(fullMatrix).unbalancedFactorization(unbalancedFactorization)
                .rankDropout(rankDropout).rankDropoutScale(rankDropoutScale).moduleDropout(moduleDropout)
                .multiplier(multiplier).seed(seed)
                .build();
    }

    /**
     * The factor plan of this layer's adapter: the {@linkplain #getPlan() explicit plan} when set (adapters
     * loaded from a file), else {@link LokrAdapter#layoutFor} of {@link #weightShape()}; with the scale replaced by {@link #getScale()} when that is set.
     *
     * @return the layout
     */
    public LokrLayout layout() {
        LokrLayout planned = plan != null ? plan.layout(weightShape()) : options().layoutFor(weightShape());
        if (scale == null) {
            return planned;
        }
        return LokrLayout.explicit(planned.weightShape(), planned.a(), planned.b(), planned.c(), planned.d(),
                planned.rank(), planned.w1Mode(), planned.w2Mode(), scale, planned.scalar(), planned.doraAxis(),
                planned.detachNorm());
    }

    /**
     * The base weight's shape in PyTorch layout, which the adapter is planned for.
     *
     * @return {@code [nOut, nIn]} (dense), {@code [nOut, nIn, kH, kW]} (2-D conv) or {@code [nOut, nIn, k, 1]} (1-D conv)
     */
    public long[] weightShape() {
        return weightShape(base);
    }

    /** The PyTorch-layout weight shape of a supported base (see {@link #weightShape()}). */
    private static long[] weightShape(Layer base) {
        FeedForwardLayer ff = (FeedForwardLayer) base;
        if (base instanceof ConvolutionLayer) {
            int[] k = ((ConvolutionLayer) base).getKernelSize();
            long kw = base instanceof Convolution1DLayer ? 1 : k[1];
            return new long[] {ff.getNOut(), ff.getNIn(), k[0], kw};
        }
        return new long[] {ff.getNOut(), ff.getNIn()};
    }

    /** @return whether the base is a convolution layer */
    public boolean convolutionBase() {
        return base instanceof ConvolutionLayer;
    }

    /**
     * @param key a parameter key of this layer
     * @return whether it is one of the adapter's (trainable) tensors
     */
    public static boolean isAdapterParam(String key) {
        return key.startsWith(PARAM_PREFIX);
    }

    /**
     * @param param an adapter tensor
     * @return its DL4J parameter key: {@code lokr} + its key capitalised ({@code lokrW1}, {@code lokrMagnitude})
     */
    public static String paramKey(LokrParam param) {
        String k = param.key();
        return PARAM_PREFIX + Character.toUpperCase(k.charAt(0)) + k.substring(1);
    }

    /**
     * @param key a DL4J parameter key of an adapter tensor
     * @return the tensor
     * @throws IllegalArgumentException if the key names no adapter tensor
     */
    public static LokrParam paramOf(String key) {
        for (LokrParam p : LokrParam.values()) {
            if (paramKey(p).equals(key)) {
                return p;
            }
        }
        throw new IllegalArgumentException("'" + key + "' is not a LoKR parameter key");
    }

    @Override
    public org.deeplearning4j.nn.api.Layer instantiate(NeuralNetConfiguration conf,
                                                       Collection<TrainingListener> trainingListeners,
                                                       int layerIndex, INDArray layerParamsView,
                                                       boolean initializeParams, DataType networkDataType) {
        if (networkDataType != DataType.FLOAT && networkDataType != DataType.DOUBLE) {
            throw new IllegalArgumentException("layer '" + layerName + "': LoKR layers need a FLOAT or DOUBLE network, got "
                    + networkDataType);
        }
        options();
        built = true;
        requireBaseSettings();
        BaseLokrLayerImplFactory factory = base instanceof ConvolutionLayer ? LokrConvolutionLayerImpl::new
                : base instanceof OutputLayer ? LokrOutputLayerImpl::new : LokrDenseLayerImpl::new;
        org.deeplearning4j.nn.api.Layer ret = factory.create(conf, networkDataType);
        ret.setListeners(trainingListeners);
        ret.setIndex(layerIndex);
        ret.setParamsViewArray(layerParamsView);
        Map<String, INDArray> paramTable = initializer().init(conf, layerParamsView, initializeParams);
        ret.setParamTable(paramTable);
        ret.setConf(conf);
        return ret;
    }

    /**
     * Refuses a base layer without the settings that {@code NeuralNetConfiguration.Builder} would have
     * given it: DL4J copies the builder's defaults (weight init, bias init, activation, updater,
     * convolution mode) only onto its own layer types, so a base wrapped in a LoKR layer by hand keeps nulls and would
     * fail later with a bare NullPointerException.
     */
    private void requireBaseSettings() {
        List<String> missing = new ArrayList<>();
        if (base instanceof BaseLayer bl) {
            if (bl.getWeightInitFn() == null) {
                missing.add("weightInit");
            }
            if (bl.getActivationFn() == null) {
                missing.add("activation");
            }
            if (bl.getIUpdater() == null && updater == null) {
                missing.add("updater");
            }
            if (Double.isNaN(bl.getBiasInit()) && bl.initializer().paramKeys(bl).contains("b")) {
                missing.add("biasInit");   // the bias would start as NaN
            }
        }
        if (base instanceof ConvolutionLayer conv && conv.getConvolutionMode() == null) {
            missing.add("convolutionMode");
        }
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("layer '" + layerName + "': the base " + base.getClass().getSimpleName()
                    + " has no " + String.join(", ", missing) + ". DL4J does not copy NeuralNetConfiguration.Builder"
                    + " defaults into a layer wrapped by LokrLayer: set them on the base layer's own builder, or"
                    + " adapt a built network with LokrNetworks.apply");
        }
    }

    /** Creates the runtime layer for one base type. */
    @FunctionalInterface
    private interface BaseLokrLayerImplFactory {
        org.deeplearning4j.nn.api.Layer create(NeuralNetConfiguration conf, DataType dataType);
    }

    @Override
    public ParamInitializer initializer() {
        return LokrParamInitializer.getInstance();
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        return base.getOutputType(layerIndex, inputType);
    }

    @Override
    public void setNIn(InputType inputType, boolean override) {
        base.setNIn(inputType, override);
    }

    @Override
    public InputPreProcessor getPreProcessorForInputType(InputType inputType) {
        return base.getPreProcessorForInputType(inputType);
    }

    /**
     * @param paramName a parameter key
     * @return none for the frozen {@code W} and {@code b}; the base's weight regularization for the
     *         factors, its bias regularization for the magnitude and the scalar
     */
    @Override
    public List<Regularization> getRegularizationByParam(String paramName) {
        if (!isAdapterParam(paramName)) {
            return Collections.emptyList();
        }
        LokrParam p = paramOf(paramName);
        String baseKey = p == LokrParam.MAGNITUDE || p == LokrParam.SCALAR ? "b" : "W";
        List<Regularization> r = base.getRegularizationByParam(baseKey);
        return r == null ? Collections.emptyList() : r;
    }

    @Override
    public boolean isPretrainParam(String paramName) {
        return false;
    }

    /**
     * @param paramName a parameter key
     * @return {@link NoOp} for the frozen {@code W} and {@code b}; {@link #getUpdater()} (or the base's
     *         weight updater when that is null) for the adapter tensors
     */
    @Override
    public IUpdater getUpdaterByParam(String paramName) {
        if (!isAdapterParam(paramName)) {
            return new NoOp();
        }
        return updater != null ? updater : base.getUpdaterByParam("W");
    }

    @Override
    @JsonIgnore
    public GradientNormalization getGradientNormalization() {
        return base.getGradientNormalization();
    }

    @Override
    @JsonIgnore
    public double getGradientNormalizationThreshold() {
        return base.getGradientNormalizationThreshold();
    }

    @Override
    public LayerMemoryReport getMemoryReport(InputType inputType) {
        return base.getMemoryReport(inputType);
    }

    @Override
    public void setLayerName(String layerName) {
        super.setLayerName(layerName);
        if (base != null) {
            base.setLayerName(layerName);
        }
    }

    /** @return the base layer's input dropout (the adapted layer drops its input as the base does) */
    @Override
    @JsonIgnore
    public IDropout getIDropout() {
        return base == null ? null : base.getIDropout();
    }

    /** @param iDropout the input dropout, set on the base layer */
    @Override
    @JsonIgnore
    public void setIDropout(IDropout iDropout) {
        base.setIDropout(iDropout);
    }

    @Override
    public void setDataType(DataType dataType) {
        base.setDataType(dataType);
    }

    @Override
    public LokrLayer clone() {
        LokrLayer c = (LokrLayer) super.clone();
        c.built = false;   // no network is built from the copy yet
        c.base = base.clone();
        c.plan = plan == null ? null : plan.copy();
        c.updater = updater == null ? null : updater.clone();
        return c;
    }

    /**
     * Refuses to change an option that shapes the adapter's tensors once a network is built from this
     * configuration: the running layer keeps its plan, while a clone or a saved model would plan anew, so
     * the two would disagree (or the saved parameters no longer fit).
     */
    private void requireUnbuilt(String option, Object current, Object next) {
        if (built && !Objects.equals(current, next)) {
            throw new IllegalStateException("layer '" + layerName + "': " + option + " cannot change from " + current
                    + " to " + next + " once a network is built from this configuration (the adapter's tensors are"
                    + " planned for it); multiplier, enabled and the dropouts can; to change "
                    + option + ", merge() the network and apply a new adapter");
        }
    }

    /** Checks one option's value by {@link LokrAdapter}'s own rules (the builder's other options at defaults). */
    private static void checkOption(java.util.function.Consumer<LokrAdapter.Builder> option) {
        LokrAdapter.Builder b = LokrAdapter.builder();
        option.accept(b);
        b.build();
    }

    /** @return the rank {@code r} */
    public int getRank() {
        return rank;
    }

    /**
     * @param rank the rank {@code r}, at least 1
     * @throws IllegalArgumentException if {@code rank < 1}
     */
    public void setRank(int rank) {
        checkOption(b -> b.rank(rank));
        requireUnbuilt("rank", this.rank, rank);
        this.rank = rank;
    }

    /** @return {@code alpha} (0 means {@code alpha = rank}) */
    public double getAlpha() {
        return alpha;
    }

    /** @param alpha the scale numerator */
    public void setAlpha(double alpha) {
        checkOption(b -> b.alpha(alpha));
        double a = alpha + 0.0;   // -0.0 is 0.0, as in LokrAdapter
        requireUnbuilt("alpha", this.alpha, a);
        this.alpha = a;
    }

    /** @return the factorization limit (-1: none) */
    public int getFactor() {
        return factor;
    }

    /** @param factor the factorization limit */
    public void setFactor(int factor) {
        checkOption(b -> b.factor(factor));
        requireUnbuilt("factor", this.factor, factor);
        this.factor = factor;
    }

    /** @return whether {@code w1} is low-rank too when that is smaller */
    public boolean isDecomposeBoth() {
        return decomposeBoth;
    }

    /** @param decomposeBoth store {@code w1} low-rank too */
    public void setDecomposeBoth(boolean decomposeBoth) {
        requireUnbuilt("decomposeBoth", this.decomposeBoth, decomposeBoth);
        this.decomposeBoth = decomposeBoth;
    }

    /** @return whether conv kernels larger than 1x1 use a Tucker core */
    public boolean isTucker() {
        return tucker;
    }

    /** @param tucker use a Tucker core */
    public void setTucker(boolean tucker) {
        requireUnbuilt("tucker", this.tucker, tucker);
        this.tucker = tucker;
    }

    /** @return whether a learned scalar gain is present */
    public boolean isScalar() {
        return scalar;
    }

    /** @param scalar learn a scalar gain */
    public void setScalar(boolean scalar) {
        requireUnbuilt("scalar", this.scalar, scalar);
        this.scalar = scalar;
    }

    /** @return whether DoRA is on */
    public boolean isDora() {
        return dora;
    }

    /** @param dora use DoRA */
    public void setDora(boolean dora) {
        requireUnbuilt("dora", this.dora, dora);
        this.dora = dora;
    }

    /** @return whether DoRA normalises per input column */
    public boolean isDoraOnInput() {
        return doraOnInput;
    }

    /** @param doraOnInput normalise per input column */
    public void setDoraOnInput(boolean doraOnInput) {
        requireUnbuilt("doraOnInput", this.doraOnInput, doraOnInput);
        this.doraOnInput = doraOnInput;
    }

    /** @return whether the DoRA norm is detached in backward */
    public boolean isDetachNorm() {
        return detachNorm;
    }

    /** @param detachNorm detach the DoRA norm */
    public void setDetachNorm(boolean detachNorm) {
        requireUnbuilt("detachNorm", this.detachNorm, detachNorm);
        this.detachNorm = detachNorm;
    }

    /** @return whether the scale is {@code alpha / sqrt(rank)} */
    public boolean isRsLora() {
        return rsLora;
    }

    /** @param rsLora scale by {@code alpha / sqrt(rank)} */
    public void setRsLora(boolean rsLora) {
        requireUnbuilt("rsLora", this.rsLora, rsLora);
        this.rsLora = rsLora;
    }

    /** @return whether both factors are always full */
    public boolean isFullMatrix() {
        return fullMatrix;
    }

    /** @param fullMatrix always store both factors full */
    public void setFullMatrix(boolean fullMatrix) {
        requireUnbuilt("fullMatrix", this.fullMatrix, fullMatrix);
        this.fullMatrix = fullMatrix;
    }

    /** @return whether the output split is swapped */
    public boolean isUnbalancedFactorization() {
        return unbalancedFactorization;
    }

    /** @param unbalancedFactorization swap the output split */
    public void setUnbalancedFactorization(boolean unbalancedFactorization) {
        requireUnbuilt("unbalancedFactorization", this.unbalancedFactorization, unbalancedFactorization);
        this.unbalancedFactorization = unbalancedFactorization;
    }

    /** @return the rank-dropout probability (training only) */
    public double getRankDropout() {
        return rankDropout;
    }

    /**
     * @param rankDropout the rank-dropout probability in [0, 1)
     * @throws IllegalArgumentException if it is not in [0, 1)
     */
    public void setRankDropout(double rankDropout) {
        checkOption(b -> b.rankDropout(rankDropout));
        this.rankDropout = rankDropout;
    }

    /** @return whether the kept rank-dropout mask is divided by its mean */
    public boolean isRankDropoutScale() {
        return rankDropoutScale;
    }

    /** @param rankDropoutScale divide the kept mask by its mean */
    public void setRankDropoutScale(boolean rankDropoutScale) {
        this.rankDropoutScale = rankDropoutScale;
    }

    /** @return the module-dropout probability (training only) */
    public double getModuleDropout() {
        return moduleDropout;
    }

    /**
     * @param moduleDropout the probability of skipping the adapter for one training step, in [0, 1)
     * @throws IllegalArgumentException if it is not in [0, 1)
     */
    public void setModuleDropout(double moduleDropout) {
        checkOption(b -> b.moduleDropout(moduleDropout));
        this.moduleDropout = moduleDropout;
    }

    /** @return the strength {@code m} used by forward passes */
    public double getMultiplier() {
        return multiplier;
    }

    /**
     * @param multiplier the strength {@code m}, finite; may be changed at any time
     * @throws IllegalArgumentException if it is not finite
     */
    public void setMultiplier(double multiplier) {
        checkOption(b -> b.multiplier(multiplier));
        this.multiplier = multiplier + 0.0;
    }

    /** @return the seed of the adapter's initialisation and of its dropouts */
    public long getSeed() {
        return seed;
    }

    /** @param seed the seed */
    public void setSeed(long seed) {
        this.seed = seed;
    }

    /**
     * The seed this layer's adapter is initialised with: {@link #getSeed()} mixed with the layer name, so
     * that layers of one network start from different factors.
     *
     * @return the per-layer seed
     */
    public long initSeed() {
        return seed * 0x9E3779B97F4A7C15L + (layerName == null ? 0 : layerName.hashCode());
    }

    /** @return whether the adapter is applied; when false the layer computes the base layer exactly */
    public boolean isEnabled() {
        return enabled;
    }

    /** @param enabled apply the adapter (true) or compute the base layer only (false); may be changed at any time */
    public void setEnabled(boolean enabled) {
        this.enabled = enabled;
    }

    /** @return the scale that replaces the planned one (as an adapter file gives it), or null for the planned scale */
    public Double getScale() {
        return scale;
    }

    /**
     * @param scale the scale {@code s} to use instead of the planned one, finite, or null for the planned scale
     * @throws IllegalArgumentException if it is not finite
     * @throws IllegalStateException if a network is built from this configuration and {@code scale} differs
     */
    public void setScale(Double scale) {
        Double s = checkedScale(scale);
        requireUnbuilt("scale", this.scale, s);
        this.scale = s;
    }

    /**
     * A runtime layer built from a {@code LokrLayer}: it can re-wrap its adapter tensors after the
     * configuration's scale changed ({@link #rescale}).
     */
    public interface AdapterRuntime {
        /** @return the configuration the layer was built from */
        NeuralNetConfiguration conf();

        /** Re-wraps the adapter tensors (and their gradients) with the configuration's current layout. */
        void rewrapAdapter();
    }

    /**
     * Changes the scale of a configuration a network is built from, through its runtime layer, which
     * re-wraps its tensors with the new layout in the same call, so that the live layer, clones and saved
     * models agree. {@code BaseLokrLayerImpl.setAdapterScale} and {@code LokrNetwork.loadAdapter} use this.
     *
     * @param owner the runtime layer built from this configuration
     * @param scale the scale {@code s}, finite, or null for the planned scale
     * @throws IllegalArgumentException if {@code scale} is NaN or infinite, or {@code owner} was not built
     *     from this configuration
     */
    public void rescale(AdapterRuntime owner, Double scale) {
        Objects.requireNonNull(owner, "owner");
        if (owner.conf() == null || owner.conf().getLayer() != this) {
            throw new IllegalArgumentException("layer '" + layerName + "': rescale needs the runtime layer built from"
                    + " this configuration (use its setAdapterScale)");
        }
        this.scale = checkedScale(scale);
        owner.rewrapAdapter();
    }

    /** {@code scale}, finite or null, with {@code -0.0} as {@code 0.0}. */
    private static Double checkedScale(Double scale) {
        if (scale != null && (scale.isNaN() || scale.isInfinite())) {
            throw new IllegalArgumentException("scale must be finite or null, got " + scale);
        }
        return scale == null ? null : scale + 0.0;
    }

    /**
     * @return a copy of the explicit factor plan (set for adapters loaded from a file), or null to plan from the
     *     options; changing the copy does not change this layer (use {@link #setPlan})
     */
    public LokrPlan getPlan() {
        return plan == null ? null : plan.copy();
    }

    /**
     * @param plan an explicit factor plan that replaces the one the options give (rank, alpha, factor,
     *             decomposeBoth, tucker, scalar and DoRA then no longer shape the adapter), or null; copied
     * @throws IllegalStateException if a network is built from this configuration and {@code plan} differs
     */
    public void setPlan(LokrPlan plan) {
        requireUnbuilt("plan", this.plan, plan);
        this.plan = plan == null ? null : plan.copy();
    }

    /** @return the updater of the adapter tensors, or null to use the base layer's weight updater */
    public IUpdater getUpdater() {
        return updater;
    }

    /** @param updater the updater of the adapter tensors, or null to use the base layer's weight updater */
    public void setUpdater(IUpdater updater) {
        this.updater = updater;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof LokrLayer)) {
            return false;
        }
        LokrLayer t = (LokrLayer) o;
        return Objects.equals(layerName, t.layerName) && Objects.equals(base, t.base) && rank == t.rank
                && Double.compare(alpha, t.alpha) == 0 && factor == t.factor && decomposeBoth == t.decomposeBoth
                && tucker == t.tucker && scalar == t.scalar && dora == t.dora && doraOnInput == t.doraOnInput
                && detachNorm == t.detachNorm && rsLora == t.rsLora && fullMatrix == t.fullMatrix
                && unbalancedFactorization == t.unbalancedFactorization
                && Double.compare(rankDropout, t.rankDropout) == 0 && rankDropoutScale == t.rankDropoutScale
                && Double.compare(moduleDropout, t.moduleDropout) == 0
                && Double.compare(multiplier, t.multiplier) == 0 && seed == t.seed && enabled == t.enabled
                && Objects.equals(scale, t.scale) && Objects.equals(plan, t.plan) && Objects.equals(updater, t.updater);
    }

    @Override
    public int hashCode() {
        return Objects.hash(layerName, base, rank, alpha, factor, decomposeBoth, tucker, scalar, dora, doraOnInput,
                detachNorm, rsLora, fullMatrix, unbalancedFactorization, rankDropout, rankDropoutScale,
                moduleDropout, multiplier, seed, enabled, scale, plan, updater);
    }

    @Override
    public String toString() {
        return "LokrLayer{name=" + layerName + ", base=" + (base == null ? null : base.getClass().getSimpleName())
                + ", rank=" + rank + ", alpha=" + alpha + ", factor=" + factor + ", decomposeBoth=" + decomposeBoth
                + ", tucker=" + tucker + ", scalar=" + scalar + ", dora=" + dora + ", doraOnInput=" + doraOnInput
                + ", detachNorm=" + detachNorm + ", rsLora=" + rsLora + ", fullMatrix=" + fullMatrix
                + ", unbalancedFactorization=" + unbalancedFactorization + ", rankDropout=" + rankDropout
                + ", rankDropoutScale=" + rankDropoutScale + ", moduleDropout=" + moduleDropout
                + ", multiplier=" + multiplier + ", seed=" + seed + ", enabled=" + enabled
                + (scale != null ? ", scale=" + scale : "") + (plan != null ? ", plan=" + plan : "") + (updater != null ? ", updater=" + updater : "") + "}";
    }
}
