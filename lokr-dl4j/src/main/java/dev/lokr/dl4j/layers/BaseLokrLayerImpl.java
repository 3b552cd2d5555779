package dev.lokr.dl4j.layers;

import dev.lokr.dl4j.conf.LokrLayer;
import dev.lokr.dl4j.params.LokrParamInitializer;
import dev.lokr.math.LokrDropout;
import dev.lokr.math.LokrParams;
import dev.lokr.math.LokrWeights;
import org.deeplearning4j.nn.api.layers.LayerConstraint;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.AbstractLayer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.regularization.Regularization;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.DoubleSupplier;
import java.util.function.Supplier;

/**
 * What the runtime LoKR layers share: the parameter table (frozen base {@code W}, {@code b}, then the
 * adapter tensors), the gradient views, and the per-step training state (module-dropout decision and
 * rank-dropout mask, drawn once per training forward pass).
 *
 * <p>A step begins with the first training-mode computation after {@link #setInput} and lasts until the
 * next {@code setInput} (or {@link #clear()}): forward, backward and score of one iteration see the same
 * dropout draws. Arrays kept for the backward pass are allocated outside workspaces, so they stay valid
 * whatever workspace the network opens between the passes.
 *
 * <p>The gradients of {@code W} and {@code b} are always zero; they are also excluded from
 * updating by the {@code NoOp} updater of {@link LokrLayer#getUpdaterByParam}.
 */
public abstract class BaseLokrLayerImpl extends AbstractLayer<LokrLayer> implements LokrLayer.AdapterRuntime {

    /** The base weight's key. */
    protected static final String WEIGHT_KEY = "W";
    /** The base bias's key. */
    protected static final String BIAS_KEY = "b";

    private INDArray paramsFlattened;
    private INDArray gradientsFlattened;
    private Map<String, INDArray> params;
    private Map<String, INDArray> gradientViews;
    private LokrParams adapter;
    private LokrParams adapterGrads;
    /** The last gradient computed by backprop. */
    protected Gradient gradient;
    /** The last score (output layers). */
    protected double score;

    private boolean stepStarted;
    private boolean stepSkip;
    private INDArray stepMask;

    /**
     * Dropout draws come from ND4J's random generator, like DL4J's own dropout: the network seed makes
     * them reproducible, and gradient checkpointing replays them by restoring the generator's state.
     */
    private static final DoubleSupplier UNIFORM = () -> Nd4j.getRandom().nextDouble();

    /**
     * @param conf     the layer configuration (its layer is a {@link LokrLayer})
     * @param dataType the network data type, FLOAT or DOUBLE
     */
    protected BaseLokrLayerImpl(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    /** @return the adapter tensors (live views into the parameter vector) */
    public LokrParams adapter() {
        return adapter;
    }

    /**
     * Replaces the adapter's scale (as an adapter file defines it) and re-wraps the tensors with the new
     * layout; the tensors themselves are unchanged.
     *
     * @param scale the scale {@code s}, finite, or null for the planned scale
     */
    public void setAdapterScale(Double scale) {
        layerConf().rescale(this, scale);
    }

    @Override
    public void rewrapAdapter() {
        this.adapter = LokrParamInitializer.adapterOf(layerConf(), params);
        if (gradientViews != null) {
            this.adapterGrads = LokrParamInitializer.adapterOf(layerConf(), gradientViews);
        }
    }

    /** @return the base weight {@code W} in DL4J layout (live view) */
    public INDArray baseWeight() {
        return params.get(WEIGHT_KEY);
    }

    /** @return the base bias {@code b} (live view), or null when the base has none */
    public INDArray baseBias() {
        return params.get(BIAS_KEY);
    }

    /**
     * The effective weight {@code W'} in the base's DL4J layout, with the current multiplier and no
     * dropout: the weight a merged layer gets. When the adapter is disabled this is a copy of {@code W}.
     *
     * @return a new array, shaped as {@code W}
     */
    public INDArray effectiveWeight() {
        if (!layerConf().isEnabled()) {
            return baseWeight().dup();
        }
        return effectiveWeight(null);
    }

    /** {@code W'} in DL4J layout for one rank-dropout mask (or none), at the configuration's multiplier. */
    INDArray effectiveWeight(INDArray rowMask) {
        return effectiveWeight(rowMask, layerConf().getMultiplier());
    }

    /** {@code W'} in DL4J layout for one rank-dropout mask (or none) and a multiplier. */
    INDArray effectiveWeight(INDArray rowMask, double multiplier) {
        LokrLayer c = layerConf();
        INDArray w = baseWeight();
        INDArray eff = LokrWeights.effectiveWeight(adapter, LokrParamInitializer.pytorchWeight(c, w),
                multiplier, rowMask);
        INDArray out = LokrParamInitializer.dl4jWeight(c, eff, w.shape()).dup('c');
        if (eff.closeable()) {
            eff.close();   // a weight-sized temporary (DoRA's; without DoRA it is a view, left to the collector)
        }
        return out;
    }

    /**
     * Runs a computation outside every workspace, so that the arrays it allocates stay valid between the
     * forward and the backward pass of a step.
     *
     * @param computation what to run
     * @param <T>         its result type
     * @return its result (detached arrays)
     */
    protected static <T> T detached(Supplier<T> computation) {
        MemoryWorkspace ws = Nd4j.getMemoryManager().scopeOutOfWorkspaces();
        try {
            return computation.get();
        } finally {
            ws.close();
        }
    }

    /** @return the strength {@code m} currently configured */
    protected double multiplier() {
        return layerConf().getMultiplier();
    }

    /**
     * Starts a training step if none is running: draws the module-dropout decision and the rank-dropout mask.
     *
     * @return true if a step was started now, false if one was already running
     */
    protected boolean startStep() {
        if (stepStarted) {
            return false;
        }
        LokrLayer c = layerConf();
        stepSkip = LokrDropout.skipModule(c.getModuleDropout(), UNIFORM);
        stepMask = null;
        if (c.getRankDropout() > 0 && !stepSkip) {
            stepMask = detached(() -> LokrDropout.rankMask((int) c.weightShape()[0], c.getRankDropout(),
                    c.isRankDropoutScale(), dataType, UNIFORM));
        }
        stepStarted = true;
        return true;
    }

    /** Forgets the training step (called on new input and on {@link #clear()}). */
    protected void endStep() {
        stepStarted = false;
        stepSkip = false;
        stepMask = null;
    }

    /**
     * @param training whether this is a training pass (dropouts apply only then)
     * @return whether the adapter takes part in this pass: enabled, and not skipped by module dropout
     */
    protected boolean adapterActive(boolean training) {
        return layerConf().isEnabled() && !(training && stepSkip);
    }

    /** @return the rank-dropout mask of the running training step, or null */
    protected INDArray stepMask() {
        return stepMask;
    }

    @Override
    public void setInput(INDArray input, LayerWorkspaceMgr workspaceMgr) {
        super.setInput(input, workspaceMgr);
        endStep();
    }

    @Override
    public void clear() {
        super.clear();
        endStep();
    }

    /**
     * Builds the gradient of one backward pass: lists every view. The views of the frozen parameters hold
     * zeros: {@link #setBackpropGradientsViewArray} zeroes them and nothing writes them after (as DL4J's own
     * {@code FrozenLayer} leaves its views), so they are not cleared again every step, which for a 4096x4096
     * weight cost 5–15 ms per step on two cores.
     *
     * @return the gradient, whose arrays are the layer's gradient views
     */
    protected Gradient collectGradient() {
        Gradient g = new DefaultGradient(gradientsFlattened);
        g.gradientForVariable().putAll(gradientViews);
        this.gradient = g;
        return g;
    }

    /** @return the adapter tensors' gradient views */
    protected LokrParams adapterGrads() {
        return adapterGrads;
    }

    /** @return the gradient views keyed as the parameters */
    protected Map<String, INDArray> gradientViews() {
        return gradientViews;
    }

    @Override
    public INDArray params() {
        return paramsFlattened;
    }

    @Override
    public long numParams() {
        long n = 0;
        for (INDArray v : params.values()) {
            n += v.length();
        }
        return n;
    }

    @Override
    public INDArray getParam(String param) {
        INDArray p = params.get(param);
        if (p == null) {
            throw new IllegalArgumentException("layer '" + layerConf().getLayerName() + "' has no parameter '" + param
                    + "'; it has " + params.keySet());
        }
        return p;
    }

    @Override
    public void setParam(String key, INDArray val) {
        INDArray p = getParam(key);
        if (!Arrays.equals(p.shape(), val.shape())) {
            throw new IllegalArgumentException("layer '" + layerConf().getLayerName() + "': parameter '" + key + "' is "
                    + Arrays.toString(p.shape()) + ", got " + Arrays.toString(val.shape()));
        }
        p.assign(val);
    }

    @Override
    public void setParams(INDArray newParams) {
        if (newParams == paramsFlattened) {
            return;
        }
        if (newParams.length() != paramsFlattened.length()) {
            throw new IllegalArgumentException("layer '" + layerConf().getLayerName() + "' has " + paramsFlattened.length()
                    + " parameters, got " + newParams.length());
        }
        paramsFlattened.assign(newParams.reshape(paramsFlattened.shape()));
    }

    @Override
    public void setParamsViewArray(INDArray view) {
        if (params != null && view.length() != numParams()) {
            throw new IllegalArgumentException("layer '" + layerConf().getLayerName() + "' has " + numParams()
                    + " parameters, got a view of " + view.length());
        }
        this.paramsFlattened = view;
    }

    @Override
    public INDArray getGradientsViewArray() {
        return gradientsFlattened;
    }

    @Override
    public void setBackpropGradientsViewArray(INDArray gradients) {
        if (params != null && gradients.length() != numParams()) {
            throw new IllegalArgumentException("layer '" + layerConf().getLayerName() + "' has " + numParams()
                    + " parameters, got a gradient view of " + gradients.length());
        }
        this.gradientsFlattened = gradients;
        this.gradientViews = layerConf().initializer().getGradientsFromFlattened(conf, gradients);
        this.adapterGrads = LokrParamInitializer.adapterOf(layerConf(), gradientViews);
        for (Map.Entry<String, INDArray> e : gradientViews.entrySet()) {
            if (!LokrLayer.isAdapterParam(e.getKey())) {
                e.getValue().assign(0);
            }
        }
    }

    @Override
    public void setParamTable(Map<String, INDArray> paramTable) {
        this.params = paramTable;
        this.adapter = LokrParamInitializer.adapterOf(layerConf(), paramTable);
    }

    @Override
    public Map<String, INDArray> paramTable() {
        return paramTable(false);
    }

    @Override
    public Map<String, INDArray> paramTable(boolean backpropParamsOnly) {
        return params;
    }

    @Override
    public Gradient gradient() {
        return gradient;
    }

    @Override
    public double score() {
        return score;
    }

    /** Sum of the regularization scores of the adapter tensors (the frozen ones have none). */
    @Override
    public double calcRegularizationScore(boolean backpropParamsOnly) {
        double sum = 0;
        for (Map.Entry<String, INDArray> e : params.entrySet()) {
            List<Regularization> regs = layerConf().getRegularizationByParam(e.getKey());
            for (Regularization r : regs) {
                sum += r.score(e.getValue(), getIterationCount(), getEpochCount());
            }
        }
        return sum;
    }

    /**
     * Applies the layer's constraints to the adapter tensors only. DL4J gives a layer's weight and bias
     * constraints every key of its {@code weightKeys}/{@code biasKeys}, which include the frozen
     * {@code W} and {@code b}; a constraint must never rewrite them. Such a constraint, and one that names
     * no parameter (made by hand, as for {@code LokrLayer.setConstraints}), applies to the Kronecker factors;
     * the DoRA magnitude and the scalar gain are gains, not weights, and a constraint reaches them only when it
     * names adapter tensors only. A bias constraint names only the frozen bias, so it constrains nothing. The base configuration's own constraints were meant for
     * {@code W} and {@code b}, which stay frozen, so they are not applied (see
     * {@link dev.lokr.dl4j.LokrNetworks}, which warns about them).
     *
     * @throws IllegalStateException if a constraint reduces over a dimension an adapter tensor lacks (one
     *                               written for a 4-D conv kernel, on a 2-D factor), naming both
     */
    @Override
    public void applyConstraints(int iteration, int epoch) {
        List<LayerConstraint> constraints = layerConf().getConstraints();
        if (constraints == null) {
            return;
        }
        for (LayerConstraint c : constraints) {
            Set<String> keys = c.getParams();
            Set<String> adapterKeys = new HashSet<>();
            boolean unnamed = keys == null || keys.isEmpty(); // a constraint made by hand names no parameter
            if (!unnamed && keys.stream().allMatch(LokrLayer::isAdapterParam)) {
                adapterKeys.addAll(keys);
            } else {
                for (String k : unnamed ? params.keySet() : keys) {
                    if (LokrLayer.isAdapterParam(k) && !isGain(k)) {
                        adapterKeys.add(k);
                    }
                }
            }
            if (adapterKeys.isEmpty()) {
                continue;
            }
            checkConstraintFits(c, adapterKeys);
            LayerConstraint onAdapter = c.clone();
            onAdapter.setParams(adapterKeys);
            onAdapter.applyConstraint(this, iteration, epoch);
        }
    }

    private static boolean isGain(String key) {
        return key.equals(LokrLayer.paramKey(dev.lokr.math.LokrParam.MAGNITUDE))
                || key.equals(LokrLayer.paramKey(dev.lokr.math.LokrParam.SCALAR));
    }

    private void checkConstraintFits(LayerConstraint c, Set<String> keys) {
        if (!(c instanceof org.deeplearning4j.nn.conf.constraint.BaseConstraint bc) || bc.getDimensions() == null) {
            return;
        }
        for (String k : keys) {
            INDArray p = params.get(k);
            for (int d : bc.getDimensions()) {
                if (p != null && d >= p.rank()) {
                    throw new IllegalStateException("layer '" + layerConf().getLayerName() + "': constraint " + c
                            + " reduces over dimensions " + Arrays.toString(bc.getDimensions()) + ", but adapter tensor "
                            + k + " has shape " + Arrays.toString(p.shape()) + "; set the LoKR layer's constraints"
                            + " for its own tensors (LokrLayer.setConstraints) " + layerId());
                }
            }
        }
    }

    @Override
    public void clearNoiseWeightParams() {
        // weight noise is refused for adapted layers (checkLiveBase): nothing to clear
    }

    /**
     * Refuses a pass when the live base configuration was changed, after the network was built, into one this
     * layer cannot honour: weight noise or layer norm added, its bias switched on or off, or its weight shape
     * ({@code nIn}, {@code nOut}, kernel size) changed.
     *
     * @throws IllegalStateException naming the layer and the change
     */
    protected void checkLiveBase() {
        Layer base = layerConf().getBase();
        String reason = LokrLayer.unsupportedReason(base);
        if (reason == null && !Arrays.equals(layerConf().weightShape(), adapter.layout().weightShape())) {
            reason = "its weight shape is now " + Arrays.toString(layerConf().weightShape()) + ", but the network"
                    + " holds a weight of " + Arrays.toString(adapter.layout().weightShape()) + " and an adapter"
                    + " planned for it";
        }
        boolean baseHasBias = !base.initializer().biasKeys(base).isEmpty();
        if (reason == null && baseHasBias != hasBias()) {
            reason = "its bias was switched " + (baseHasBias ? "on" : "off") + " (hasBias=" + baseHasBias
                    + "), but the network holds " + (hasBias() ? "a" : "no") + " bias parameter";
        }
        if (reason != null) {
            throw new IllegalStateException("layer '" + layerConf().getLayerName() + "': its base configuration was"
                    + " changed after the network was built: " + reason + "; undo the change, or merge() and"
                    + " change the merged network " + layerId());
        }
    }

    @Override
    public boolean isPretrainLayer() {
        return false;
    }

    @Override
    public void fit() {
        throw new UnsupportedOperationException("layer '" + layerConf().getLayerName()
                + "': fit the network, not the LoKR layer alone");
    }

    /** @return whether the base layer has a bias */
    public boolean hasBias() {
        return params.containsKey(BIAS_KEY);
    }
}
