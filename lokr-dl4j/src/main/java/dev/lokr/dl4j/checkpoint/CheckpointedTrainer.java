package dev.lokr.dl4j.checkpoint;

import dev.lokr.dl4j.conf.LokrLayer;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.api.OptimizationAlgorithm;
import org.deeplearning4j.nn.api.layers.IOutputLayer;
import org.deeplearning4j.nn.conf.BackpropType;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.graph.vertex.VertexIndices;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.deeplearning4j.optimize.solvers.BaseOptimizer;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.rng.Random;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Trains a DL4J network with gradient checkpointing. The network is a sequence of units (see
 * {@link Segmentation}) cut into segments. One training step:
 * <ol>
 *   <li>forward, segment by segment: the state of {@code Nd4j.getRandom()} is recorded at each segment's
 *       start, the segment runs in training mode ({@code activate(x, true, ...)}, input preprocessors
 *       included), only its input is kept, and its layers are cleared so that its inner activations and dropout
 *       masks can be freed; the last segment (which holds the output layer) is not cleared;</li>
 *   <li>the output layer computes its loss gradient and the score (with the regularization score, as DL4J's
 *       {@code computeGradientAndScore});</li>
 *   <li>backward, from the last segment to the first: each earlier segment's forward is recomputed from its
 *       stored input (a copy with the input's own memory layout, as layers may modify their input in place and
 *       DL4J lays a dropout mask out in memory order) with the random state restored, so dropout masks are
 *       replayed exactly, then
 *       {@code backpropGradient} runs through its layers, each writing its gradient into its view of the
 *       network's flattened gradient array; the segment is then cleared. As in DL4J, a {@code FrozenLayer}
 *       (or {@code FrozenVertex}) ends the backward pass: the layers below it get no gradient;</li>
 *   <li>the random state is set to where the plain forward pass would have left it, and {@link #fit(DataSet)}
 *       applies the network's own updater and step as DL4J's {@code StochasticGradientDescent} does
 *       ({@code updater.update(...)}, {@code params -= gradient}, listeners' {@code iterationDone}, iteration
 *       count + 1, constraints).</li>
 * </ol>
 * Because the same random numbers are drawn in the same order, gradients and parameters equal those of
 * {@code net.computeGradientAndScore()} and {@code net.fit(DataSet)} up to floating point reassociation.
 *
 * <p>All arrays are allocated outside workspaces ({@link LayerWorkspaceMgr#noWorkspaces()}), so freed
 * activations go back to the allocator as soon as they are unreachable. Supported: {@code MultiLayerNetwork}s
 * ending in an output layer, and {@code ComputationGraph}s with one input and one output whose vertices form a
 * chain in topological order. Not supported (refused with a message): feature or label masks, truncated
 * BPTT ({@code BackpropType.TruncatedBPTT}), an {@code optimizationAlgo} other than
 * {@code STOCHASTIC_GRADIENT_DESCENT} (line search, conjugate gradient, LBFGS: DL4J's {@code fit} steps
 * differently), and a graph with a vertex that is not frozen below a frozen one (DL4J's graph fails on it in its
 * backward pass). The network holds each step's features and labels
 * ({@code setInput}, {@code setLabels}), as in DL4J's {@code fit}, for listeners that read them. LoKR rank and module dropout draw from {@code Nd4j.getRandom()}
 * like DL4J's dropout, so they are replayed too. Training listeners get DL4J's callbacks in DL4J's order
 * ({@code onBackwardPass}, {@code onGradientCalculation} with the network's gradient set, {@code iterationDone},
 * and the epoch callbacks in {@link #fit(DataSetIterator)}) except {@code onForwardPass}: the point of
 * checkpointing is never to hold every layer's activations at once.
 * Not thread safe; use one trainer per network and thread.
 */
public final class CheckpointedTrainer {

    private static final Logger LOG = LoggerFactory.getLogger(CheckpointedTrainer.class);

    private final Model net;
    private final List<Unit> units;
    private final Segmentation segmentation;
    private final LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
    private int[] cachedStarts;
    private long[] cachedStartsShape;
    private int cachedBatch = -1;

    private CheckpointedTrainer(Model net, List<Unit> units, Segmentation segmentation) {
        this.net = net;
        this.units = units;
        this.segmentation = Objects.requireNonNull(segmentation, "segmentation");
        if (!segmentation.needsOutputSizes()) {
            cachedStarts = segmentation.resolve(new long[units.size()]);
        }
    }

    /**
     * @param net          an initialised network whose last layer is an output layer
     * @param segmentation where segments start
     * @return a trainer for {@code net}
     * @throws IllegalArgumentException if the last layer is not an output layer, if a manual boundary is out of
     *                                  range
     */
    public static CheckpointedTrainer of(MultiLayerNetwork net, Segmentation segmentation) {
        Objects.requireNonNull(net, "net");
        Layer[] layers = net.getLayers();
        if (layers == null || layers.length == 0) {
            throw new IllegalArgumentException("net must be initialised (call net.init()): it has no layers");
        }
        if (!(layers[layers.length - 1] instanceof IOutputLayer)) {
            throw new IllegalArgumentException("the last layer of net must be an output layer (IOutputLayer), got "
                    + layers[layers.length - 1].getClass().getSimpleName());
        }
        requireStandardBackprop(net.getLayerWiseConfigurations().getBackpropType());
        requireSgd(net.conf());
        List<Unit> units = new ArrayList<>();
        for (int i = 0; i < layers.length; i++) {
            units.add(new MlnUnit(net, i));
        }
        return new CheckpointedTrainer(net, units, segmentation);
    }

    /**
     * @param net          an initialised graph with one input and one output whose non-input vertices form a
     *                     chain in topological order (each takes the previous one's output only), ending in an
     *                     output layer
     * @param segmentation where segments start
     * @return a trainer for {@code net}
     * @throws IllegalArgumentException if the graph is not such a chain (naming the vertex that breaks it), or
     *                                  as {@link #of(MultiLayerNetwork, Segmentation)}
     */
    public static CheckpointedTrainer of(ComputationGraph net, Segmentation segmentation) {
        Objects.requireNonNull(net, "net");
        if (net.getVertices() == null) {
            throw new IllegalArgumentException("net must be initialised (call net.init()): it has no vertices");
        }
        int nIn = net.getConfiguration().getNetworkInputs().size();
        int nOut = net.getConfiguration().getNetworkOutputs().size();
        if (nIn != 1 || nOut != 1) {
            throw new IllegalArgumentException("checkpointing supports ComputationGraphs with 1 input and 1 output,"
                    + " got " + nIn + " inputs and " + nOut + " outputs");
        }
        requireStandardBackprop(net.getConfiguration().getBackpropType());
        requireSgd(net.conf());
        GraphVertex[] vertices = net.getVertices();
        int[] order = net.topologicalSortOrder();
        List<Unit> units = new ArrayList<>();
        int previous = -1;
        for (int idx : order) {
            GraphVertex v = vertices[idx];
            if (v.isInputVertex()) {
                previous = idx;
                continue;
            }
            VertexIndices[] in = v.getInputVertices();
            if (in == null || in.length != 1 || in[0].getVertexIndex() != previous) {
                throw new IllegalArgumentException("checkpointing supports ComputationGraphs whose vertices form a"
                        + " chain in topological order; vertex '" + v.getVertexName() + "' must take exactly the"
                        + " output of '" + vertices[previous].getVertexName() + "', got inputs "
                        + describe(vertices, in));
            }
            VertexIndices[] outs = vertices[previous].getOutputVertices();
            if (outs == null || outs.length != 1) {
                throw new IllegalArgumentException("checkpointing supports ComputationGraphs whose vertices form a"
                        + " chain in topological order; vertex '" + vertices[previous].getVertexName()
                        + "' must feed exactly one vertex, got " + describe(vertices, outs));
            }
            units.add(new GraphUnit(net, v));
            previous = idx;
        }
        if (units.isEmpty() || !units.get(units.size() - 1).isOutput()) {
            throw new IllegalArgumentException("the last vertex of net must be an output layer (IOutputLayer)");
        }
        requireFrozenBelowFrozen(units);
        return new CheckpointedTrainer(net, units, segmentation);
    }

    /**
     * DL4J's graph skips a frozen vertex in its backward pass, so every vertex below one gets no gradient, and
     * DL4J refuses the pass when such a vertex is not frozen too ("all epsilons not set"). Refused here up front.
     */
    private static void requireFrozenBelowFrozen(List<Unit> units) {
        int top = -1;
        for (int i = units.size() - 1; i >= 0 && top < 0; i--) {
            if (units.get(i).stopsBackward()) {
                top = i;
            }
        }
        for (int i = 0; i < top; i++) {
            if (!units.get(i).stopsBackward()) {
                throw new IllegalArgumentException("vertex '" + units.get(i).name() + "' lies below the frozen vertex '"
                        + units.get(top).name() + "', which passes no gradient back, so it would get none (DL4J's"
                        + " own ComputationGraph refuses this backward pass too: \"all epsilons not set\"); freeze it"
                        + " as well, or use FrozenLayerWithBackprop for '" + units.get(top).name() + "'");
            }
        }
    }

    private static void requireStandardBackprop(BackpropType type) {
        if (type != BackpropType.Standard) {
            throw new IllegalArgumentException("checkpointing supports backpropType Standard only, got " + type);
        }
    }

    /**
     * The step here is DL4J's {@code StochasticGradientDescent}; DL4J's {@code fit} trains a network configured
     * with another algorithm (line search, conjugate gradient, LBFGS) by that algorithm, so such a network is
     * refused rather than silently trained differently.
     */
    private static void requireSgd(org.deeplearning4j.nn.conf.NeuralNetConfiguration conf) {
        OptimizationAlgorithm algo = conf == null ? null : conf.getOptimizationAlgo();
        if (algo != null && algo != OptimizationAlgorithm.STOCHASTIC_GRADIENT_DESCENT) {
            throw new IllegalArgumentException("checkpointing supports optimizationAlgo STOCHASTIC_GRADIENT_DESCENT"
                    + " only, got " + algo + "; train this network with net.fit (in LokrTraining:"
                    + " TrainingOptions gradientCheckpointing(false))");
        }
    }

    private static String describe(GraphVertex[] vertices, VertexIndices[] idx) {
        if (idx == null) {
            return "[]";
        }
        List<String> names = new ArrayList<>();
        for (VertexIndices i : idx) {
            names.add(vertices[i.getVertexIndex()].getVertexName());
        }
        return names.toString();
    }

    /** @return the number of units (layers, or non-input vertices) the network is seen as */
    public int numUnits() {
        return units.size();
    }

    /**
     * @param data a batch (its features decide the output sizes a memory budget is resolved with)
     * @return the segment start indices used for this batch, first 0
     */
    public int[] segmentStarts(DataSet data) {
        INDArray features = features(data);
        return starts(features).clone();
    }

    /**
     * Estimates each unit's output size for a batch: one example is run forward in inference mode and each
     * output's length is scaled by the batch size.
     *
     * @param data a batch
     * @return per unit, the estimated output bytes for the whole batch
     */
    public long[] estimateOutputBytes(DataSet data) {
        INDArray features = features(data);
        long batch = features.size(0);
        INDArray x = features.get(NDArrayIndex.interval(0, 1)).dup();
        bindBatch(x);
        long[] bytes = new long[units.size()];
        for (int i = 0; i < units.size(); i++) {
            x = units.get(i).forward(x, false, 1, mgr);
            bytes[i] = x.length() * x.dataType().width() * batch;
        }
        clearAll();
        return bytes;
    }

    private int[] starts(INDArray features) {
        if (!segmentation.needsOutputSizes()) {
            return cachedStarts;
        }
        long[] shape = Arrays.copyOfRange(features.shape(), 1, features.rank());
        if (cachedStarts == null || !Arrays.equals(shape, cachedStartsShape) || cachedBatch != features.size(0)) {
            long[] bytes = estimateOutputBytes(new org.nd4j.linalg.dataset.DataSet(features, null));
            cachedStarts = segmentation.resolve(bytes);
            cachedStartsShape = shape;
            cachedBatch = (int) features.size(0);
            LOG.debug("segments for batch {} x {}: starts {} from output bytes {}", cachedBatch,
                    Arrays.toString(shape), Arrays.toString(cachedStarts), Arrays.toString(bytes));
        }
        return cachedStarts;
    }

    /**
     * Gives a graph this batch as its input. A graph vertex's input preprocessor (CNN to feed-forward, RNN to
     * feed-forward ...) takes the batch size from the graph's input, not from the array it is given, so a
     * graph that never saw the batch fails and one that saw another batch size reshapes wrongly.
     */
    private void bindBatch(INDArray features) {
        if (net instanceof ComputationGraph g) {
            g.setInput(0, features);
        }
    }

    private INDArray features(DataSet data) {
        Objects.requireNonNull(data, "data");
        if (data.getFeaturesMaskArray() != null || data.getLabelsMaskArray() != null) {
            throw new IllegalArgumentException("checkpointing does not support feature or label masks");
        }
        INDArray f = data.getFeatures();
        if (f == null) {
            throw new IllegalArgumentException("data must have features");
        }
        org.nd4j.linalg.api.buffer.DataType type = net.params().dataType();
        return f.dataType() == type ? f : f.castTo(type);
    }

    /**
     * Computes the score and gradient of one batch with checkpointing, without updating the parameters. The
     * gradient is left in the network's flattened gradient array ({@code net.getFlattenedGradients()}).
     *
     * @param data a batch with features [N, ...] and labels
     * @return the gradient (its {@code gradient()} is the flattened gradient view) and the score
     */
    public Pair<Gradient, Double> computeGradientAndScore(DataSet data) {
        INDArray features = features(data);
        INDArray labels = data.getLabels();
        if (labels == null) {
            throw new IllegalArgumentException("data must have labels");
        }
        if (labels.dataType() != features.dataType()) {
            labels = labels.castTo(features.dataType());
        }
        int[] starts = starts(features);
        bindBatch(features);
        // as DL4J's fit: the network holds the batch, for listeners that read model.input() or batchSize()
        if (net instanceof MultiLayerNetwork m) {
            m.setInput(features);
            m.setLabels(labels);
        } else {
            ((ComputationGraph) net).setLabels(labels);
        }
        int batch = (int) features.size(0);
        syncCounts();
        int nSeg = starts.length;
        int n = units.size();
        INDArray[] segInputs = new INDArray[nSeg];
        long[][] rngStates = new long[nSeg][];
        DefaultGradient gradient = new DefaultGradient(flattenedGradients());
        Random rng = Nd4j.getRandom();
        INDArray x = features;
        for (int s = 0; s < nSeg; s++) {
            int from = starts[s];
            int to = s + 1 < nSeg ? starts[s + 1] : n;
            // a layer may apply its input dropout in place (allowInputModification): keep a private copy, in the
            // array's own order, since DL4J draws a dropout mask in the order of the array it is applied to
            segInputs[s] = s + 1 < nSeg ? copyInLayout(x) : x;
            rngStates[s] = new long[] {rng.rootState(), rng.nodeState()};
            x = forwardSegment(from, to, x, batch);
            if (s + 1 < nSeg) {
                clearRange(from, to);
            }
        }
        // last segment: the output unit was given its input; compute its loss gradient and backprop
        Unit out = units.get(n - 1);
        ((IOutputLayer) out.layer()).setLabels(labels);
        int lastFrom = starts[nSeg - 1];
        INDArray eps = backwardSegment(lastFrom, n, null, batch, gradient);
        double score = ((IOutputLayer) out.layer()).computeScore(regularizationScore(), true, mgr);
        long[] endState = {rng.rootState(), rng.nodeState()};
        clearRange(lastFrom, n);
        segInputs[nSeg - 1] = null;
        // a FrozenLayer (or FrozenVertex) ends the backward pass, as in DL4J: the layers below it get no gradient
        for (int s = nSeg - 2; s >= 0 && eps != null; s--) {
            int from = starts[s];
            int to = starts[s + 1];
            rng.setStates(rngStates[s][0], rngStates[s][1]);
            forwardSegment(from, to, segInputs[s], batch);
            segInputs[s] = null;
            eps = backwardSegment(from, to, eps, batch, gradient);
            clearRange(from, to);
        }
        rng.setStates(endState[0], endState[1]);
        setScore(score);
        // setGradientFor drops a DefaultGradient's flattened array: attach the view again, as DL4J's own
        // gradient does, so that the updater works on the network's gradient view in place
        DefaultGradient result = new DefaultGradient(flattenedGradients());
        result.gradientForVariable().putAll(gradient.gradientForVariable());
        // as DL4J's computeGradientAndScore: the network holds its gradient, then listeners hear of the backward pass
        if (net instanceof MultiLayerNetwork) {
            ((MultiLayerNetwork) net).setGradient(result);
        } else {
            ((ComputationGraph) net).setGradient(result);
        }
        for (TrainingListener l : listeners()) {
            l.onBackwardPass(net);
        }
        return new Pair<>(result, score);
    }

    /**
     * One training step with checkpointing: {@link #computeGradientAndScore(DataSet)}, then the network's
     * updater and the parameter step as in {@code net.fit(DataSet)}.
     *
     * @param data a batch with features [N, ...] and labels
     * @return the score of the batch (before the update)
     */
    public double fit(DataSet data) {
        int iteration = BaseOptimizer.getIterationCount(net);
        int epoch = BaseOptimizer.getEpochCount(net);
        Pair<Gradient, Double> gs = computeGradientAndScore(data);
        Gradient gradient = gs.getFirst();
        for (TrainingListener l : listeners()) {
            l.onGradientCalculation(net);   // as DL4J's optimizer: before the updater changes the gradient
        }
        int batch = (int) data.getFeatures().size(0);
        if (net instanceof MultiLayerNetwork) {
            MultiLayerNetwork mln = (MultiLayerNetwork) net;
            mln.getUpdater().update(mln, gradient, iteration, epoch, batch, mgr);
        } else {
            ((ComputationGraph) net).getUpdater().update(gradient, iteration, epoch, batch, mgr);
        }
        net.params().subi(gradient.gradient());
        for (TrainingListener l : listeners()) {
            l.iterationDone(net, iteration, epoch);
        }
        BaseOptimizer.incrementIterationCount(net, 1);
        BaseOptimizer.applyConstraints(net);
        return gs.getSecond();
    }

    /**
     * One epoch with checkpointing, as {@code net.fit(DataSetIterator)}: resets the iterator first only if it has
     * no next batch and can be reset (as DL4J does, so an iterator that reshuffles on reset sees the same resets),
     * calls listeners' {@code onEpochStart}, runs {@link #fit(DataSet)} on every batch, calls
     * {@code onEpochEnd} and increments the network's epoch count.
     *
     * @param iterator the batches
     * @throws IllegalArgumentException as {@link #fit(DataSet)}
     */
    public void fit(DataSetIterator iterator) {
        Objects.requireNonNull(iterator, "iterator");
        if (!iterator.hasNext() && iterator.resetSupported()) {
            iterator.reset();
        }
        for (TrainingListener l : listeners()) {
            l.onEpochStart(net);
        }
        while (iterator.hasNext()) {
            fit(iterator.next());
        }
        for (TrainingListener l : listeners()) {
            l.onEpochEnd(net);
        }
        if (net instanceof MultiLayerNetwork) {
            ((MultiLayerNetwork) net).incrementEpochCount();
        } else {
            ((ComputationGraph) net).incrementEpochCount();
        }
    }

    private INDArray forwardSegment(int from, int to, INDArray x, int batch) {
        for (int i = from; i < to; i++) {
            x = units.get(i).forward(x, true, batch, mgr);
        }
        return x;
    }

    /**
     * A copy of {@code x} whose elements lie in memory in the same order as in {@code x} (axes ranked by
     * stride), so that an op drawing random numbers in memory order, as DL4J's dropout does, draws the same
     * mask for the copy: {@code dup(x.ordering())} alone does not keep the layout of a permuted view, such as
     * an NWC recurrent activation.
     */
    static INDArray copyInLayout(INDArray x) {
        int rank = x.rank();
        long[] stride = x.stride();
        Integer[] byStride = new Integer[rank];
        for (int i = 0; i < rank; i++) {
            byStride[i] = i;
        }
        // largest stride first; ties (size-1 axes) keep their order
        Arrays.sort(byStride, (a, b) -> Long.compare(stride[b], stride[a]));
        int[] order = new int[rank];
        int[] inverse = new int[rank];
        for (int i = 0; i < rank; i++) {
            order[i] = byStride[i];
            inverse[byStride[i]] = i;
        }
        return x.permute(order).dup('c').permute(inverse);
    }

    /** Backprop through units {@code [from, to)}; null when a unit stops the backward pass or passes nothing back. */
    private INDArray backwardSegment(int from, int to, INDArray eps, int batch, DefaultGradient into) {
        for (int i = to - 1; i >= from; i--) {
            Unit u = units.get(i);
            if (u.stopsBackward()) {
                return null;
            }
            Pair<Gradient, INDArray> p = u.backward(eps, batch, mgr);
            if (p.getFirst() != null) {
                for (Map.Entry<String, INDArray> e : p.getFirst().gradientForVariable().entrySet()) {
                    into.setGradientFor(u.gradientPrefix() + e.getKey(), e.getValue(),
                            p.getFirst().flatteningOrderForVariable(e.getKey()));
                }
            }
            eps = p.getSecond();
            if (eps == null) {
                return null;
            }
        }
        return eps;
    }

    private void clearRange(int from, int to) {
        for (int i = from; i < to; i++) {
            units.get(i).clear();
        }
    }

    private void clearAll() {
        clearRange(0, units.size());
    }

    private void syncCounts() {
        int it = BaseOptimizer.getIterationCount(net);
        int ep = BaseOptimizer.getEpochCount(net);
        for (Unit u : units) {
            Layer l = u.layer();
            if (l != null) {
                l.setIterationCount(it);
                l.setEpochCount(ep);
            }
        }
    }

    private INDArray flattenedGradients() {
        if (net instanceof MultiLayerNetwork) {
            MultiLayerNetwork m = (MultiLayerNetwork) net;
            if (m.getFlattenedGradients() == null) {
                m.initGradientsView();
            }
            return m.getFlattenedGradients();
        }
        ComputationGraph g = (ComputationGraph) net;
        if (g.getFlattenedGradients() == null) {
            g.initGradientsView();
        }
        return g.getFlattenedGradients();
    }

    private double regularizationScore() {
        return net instanceof MultiLayerNetwork ? ((MultiLayerNetwork) net).calcRegularizationScore(true)
                : ((ComputationGraph) net).calcRegularizationScore(true);
    }

    private void setScore(double score) {
        if (net instanceof MultiLayerNetwork) {
            ((MultiLayerNetwork) net).setScore(score);
        } else {
            ((ComputationGraph) net).setScore(score);
        }
    }

    private java.util.Collection<TrainingListener> listeners() {
        java.util.Collection<TrainingListener> l = net instanceof MultiLayerNetwork
                ? ((MultiLayerNetwork) net).getListeners() : ((ComputationGraph) net).getListeners();
        return l == null ? List.of() : l;
    }

    /** One step of the chain: a layer with its preprocessor, or a graph vertex. */
    private interface Unit {
        /** Runs forward; for the output unit in training, only sets its input and returns it. */
        INDArray forward(INDArray x, boolean training, int batch, LayerWorkspaceMgr mgr);

        /** Backprop from the epsilon of this unit's output (null for the output unit). */
        Pair<Gradient, INDArray> backward(INDArray eps, int batch, LayerWorkspaceMgr mgr);

        void clear();

        Layer layer();

        /** Whether DL4J's backward pass ends here without running this unit's backward (a frozen layer or vertex). */
        boolean stopsBackward();

        /** The vertex name, or the layer's index and name, for messages. */
        String name();

        boolean isOutput();

        String gradientPrefix();
    }

    private static final class MlnUnit implements Unit {
        private final Layer layer;
        private final InputPreProcessor pre;
        private final boolean output;
        private final String prefix;

        MlnUnit(MultiLayerNetwork net, int index) {
            this.layer = net.getLayer(index);
            this.pre = net.getLayerWiseConfigurations().getInputPreProcess(index);
            this.output = index == net.getnLayers() - 1;
            this.prefix = index + "_";
        }

        @Override
        public INDArray forward(INDArray x, boolean training, int batch, LayerWorkspaceMgr mgr) {
            INDArray in = pre == null ? x : pre.preProcess(x, batch, mgr);
            if (output && training) {
                layer.setInput(in, mgr);
                return in;
            }
            return layer.activate(in, training, mgr);
        }

        @Override
        public Pair<Gradient, INDArray> backward(INDArray eps, int batch, LayerWorkspaceMgr mgr) {
            Pair<Gradient, INDArray> p = layer.backpropGradient(eps, mgr);
            INDArray e = p.getSecond();
            if (pre != null && e != null) {
                e = pre.backprop(e, batch, mgr);
            }
            return new Pair<>(p.getFirst(), e);
        }

        @Override
        public void clear() {
            layer.clear();
        }

        @Override
        public Layer layer() {
            return layer;
        }

        @Override
        public boolean stopsBackward() {
            return layer instanceof org.deeplearning4j.nn.layers.FrozenLayer;
        }

        @Override
        public String name() {
            return prefix.substring(0, prefix.length() - 1) + " (" + layer.conf().getLayer().getLayerName() + ")";
        }

        @Override
        public boolean isOutput() {
            return output;
        }

        @Override
        public String gradientPrefix() {
            return prefix;
        }
    }

    private static final class GraphUnit implements Unit {
        private final GraphVertex vertex;
        private final boolean output;

        GraphUnit(ComputationGraph net, GraphVertex vertex) {
            this.vertex = vertex;
            this.output = vertex.hasLayer() && vertex.isOutputVertex() && vertex.getLayer() instanceof IOutputLayer;
        }

        @Override
        public INDArray forward(INDArray x, boolean training, int batch, LayerWorkspaceMgr mgr) {
            vertex.setInput(0, x, mgr);
            if (output && training) {
                return x;
            }
            return vertex.doForward(training, mgr);
        }

        @Override
        public Pair<Gradient, INDArray> backward(INDArray eps, int batch, LayerWorkspaceMgr mgr) {
            vertex.setEpsilon(eps);
            Pair<Gradient, INDArray[]> p = vertex.doBackward(false, mgr);
            INDArray[] e = p.getSecond();
            return new Pair<>(p.getFirst(), e == null || e.length == 0 ? null : e[0]);
        }

        @Override
        public void clear() {
            vertex.clear();
            if (vertex.hasLayer()) {
                vertex.getLayer().clear();
            }
        }

        @Override
        public Layer layer() {
            return vertex.hasLayer() ? vertex.getLayer() : null;
        }

        @Override
        public boolean stopsBackward() {
            return layer() instanceof org.deeplearning4j.nn.layers.FrozenLayer
                    || vertex instanceof org.deeplearning4j.nn.graph.vertex.impl.FrozenVertex;
        }

        @Override
        public String name() {
            return vertex.getVertexName();
        }

        @Override
        public boolean isOutput() {
            return output;
        }

        @Override
        public String gradientPrefix() {
            return vertex.getVertexName() + "_";
        }
    }
}
