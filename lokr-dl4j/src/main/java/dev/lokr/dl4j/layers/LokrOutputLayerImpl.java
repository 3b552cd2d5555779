package dev.lokr.dl4j.layers;

import dev.lokr.dl4j.conf.LokrLayer;
import org.deeplearning4j.nn.api.layers.IOutputLayer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.common.primitives.Pair;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.lossfunctions.ILossFunction;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Runtime of a LoKR-adapted {@code OutputLayer}: the dense computation of {@link LokrDenseLayerImpl}
 * followed by the base layer's loss function, with DL4J's output-layer semantics (score divided by the
 * minibatch size when the network is configured for minibatches, per-example and per-output label masks).
 *
 * <p>Shapes: input {@code [N, nIn]}, labels and output {@code [N, nOut]}.
 */
public class LokrOutputLayerImpl extends LokrDenseLayerImpl implements IOutputLayer {

    private INDArray labels;
    private double fullNetRegTerm;

    /**
     * @param conf     the layer configuration (its layer is a {@link LokrLayer} over an {@link OutputLayer})
     * @param dataType the network data type
     */
    public LokrOutputLayerImpl(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    private ILossFunction lossFn() {
        return ((OutputLayer) layerConf().getBase()).getLossFn();
    }

    private void checkLabels() {
        if (input == null || labels == null) {
            throw new IllegalStateException("layer '" + layerConf().getLayerName()
                    + "': cannot compute a score without input and labels " + layerId());
        }
    }

    @Override
    public double computeScore(double fullNetRegTerm, boolean training, LayerWorkspaceMgr workspaceMgr) {
        checkLabels();
        this.fullNetRegTerm = fullNetRegTerm;
        INDArray preOut = preOutput(training, workspaceMgr);
        double s = lossFn().computeScore(labels, preOut, activationFn(), maskArray, false);
        if (conf().isMiniBatch()) {
            s /= getInputMiniBatchSize();
        }
        s += fullNetRegTerm;
        this.score = s;
        return s;
    }

    @Override
    public INDArray computeScoreForExamples(double fullNetRegTerm, LayerWorkspaceMgr workspaceMgr) {
        checkLabels();
        INDArray preOut = preOutput(false, workspaceMgr);
        INDArray scores = lossFn().computeScoreArray(labels, preOut, activationFn(), maskArray);
        if (fullNetRegTerm != 0.0) {
            scores.addi(fullNetRegTerm);
        }
        return workspaceMgr.leverageTo(ArrayType.ACTIVATIONS, scores);
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        checkLabels();
        INDArray preOut = preOutput(true, workspaceMgr);
        INDArray delta = lossFn().computeGradient(labels, preOut, activationFn(), maskArray);
        return backpropDelta(delta, workspaceMgr);
    }

    @Override
    public void computeGradientAndScore(LayerWorkspaceMgr workspaceMgr) {
        if (input == null || labels == null) {
            return;
        }
        backpropGradient(null, workspaceMgr);
        computeScore(fullNetRegTerm, true, workspaceMgr);
    }

    @Override
    public Pair<Gradient, Double> gradientAndScore() {
        return new Pair<>(gradient(), score());
    }

    /** Per-example masks are column vectors; per-output masks have the output's shape. */
    @Override
    protected void applyMask(INDArray to) {
        if (maskArray.isColumnVectorOrScalar()) {
            to.muliColumnVector(maskArray.castTo(to.dataType()));
        } else if (Arrays.equals(to.shape(), maskArray.shape())) {
            to.muli(maskArray.castTo(to.dataType()));
        } else {
            throw new IllegalStateException("layer '" + layerConf().getLayerName() + "': mask must be [N, 1] or "
                    + Arrays.toString(to.shape()) + ", got " + Arrays.toString(maskArray.shape()) + " " + layerId());
        }
    }

    @Override
    public boolean needsLabels() {
        return true;
    }

    @Override
    public void setLabels(INDArray labels) {
        this.labels = labels;
    }

    @Override
    public INDArray getLabels() {
        return labels;
    }

    @Override
    public void clear() {
        super.clear();
        labels = null;
        fullNetRegTerm = 0.0;
    }

    @Override
    public double f1Score(DataSet data) {
        return f1Score(data.getFeatures(), data.getLabels());
    }

    @Override
    public double f1Score(INDArray examples, INDArray labels) {
        Evaluation eval = new Evaluation();
        eval.eval(labels, activate(examples, false, LayerWorkspaceMgr.noWorkspacesImmutable()));
        return eval.f1();
    }

    @Override
    @Deprecated
    public int numLabels() {
        return (int) labels.size(1);
    }

    @Override
    public int[] predict(INDArray examples) {
        INDArray out = activate(examples, false, LayerWorkspaceMgr.noWorkspacesImmutable());
        return out.argMax(1).toIntVector();
    }

    @Override
    public List<String> predict(DataSet dataSet) {
        List<String> names = new ArrayList<>();
        for (int i : predict(dataSet.getFeatures())) {
            names.add(dataSet.getLabelName(i));
        }
        return names;
    }

    @Override
    public void fit(DataSetIterator iter) {
        throw unsupportedFit();
    }

    @Override
    public void fit(INDArray examples, INDArray labels) {
        throw unsupportedFit();
    }

    @Override
    public void fit(DataSet data) {
        throw unsupportedFit();
    }

    @Override
    public void fit(INDArray examples, int[] labels) {
        throw unsupportedFit();
    }

    private UnsupportedOperationException unsupportedFit() {
        return new UnsupportedOperationException("layer '" + layerConf().getLayerName()
                + "': fit the network, not the LoKR output layer alone");
    }
}
