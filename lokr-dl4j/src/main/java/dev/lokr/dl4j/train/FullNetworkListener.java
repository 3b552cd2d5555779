package dev.lokr.dl4j.train;

import dev.lokr.dl4j.offload.OffloadedTraining;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A network's listener while its head trains offloaded: {@code iterationDone} and the epoch callbacks get the
 * full network, first brought up to date from the head ({@link OffloadedTraining#writeBack}: parameters,
 * updater state, counts, score), so a listener that evaluates or saves the model (DL4J's
 * {@code EvaluativeListener}, {@code CheckpointListener}) sees the network it was attached to, and a listener
 * that fails leaves the network with every step trained so far. The callbacks inside a step
 * ({@code onForwardPass}, {@code onBackwardPass}, {@code onGradientCalculation}) get the head, whose
 * activations and gradient they describe.
 */
final class FullNetworkListener implements TrainingListener {

    private final TrainingListener listener;
    private final OffloadedTraining offloaded;
    private final MultiLayerNetwork net;

    FullNetworkListener(TrainingListener listener, OffloadedTraining offloaded, MultiLayerNetwork net) {
        this.listener = Objects.requireNonNull(listener, "listener");
        this.offloaded = Objects.requireNonNull(offloaded, "offloaded");
        this.net = Objects.requireNonNull(net, "net");
    }

    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        offloaded.writeBack(net);
        listener.iterationDone(net, iteration, epoch);
    }

    @Override
    public void onEpochStart(Model model) {
        offloaded.writeBack(net);
        listener.onEpochStart(net);
    }

    @Override
    public void onEpochEnd(Model model) {
        offloaded.writeBack(net);
        listener.onEpochEnd(net);
    }

    @Override
    public void onForwardPass(Model model, List<INDArray> activations) {
        listener.onForwardPass(model, activations);
    }

    @Override
    public void onForwardPass(Model model, Map<String, INDArray> activations) {
        listener.onForwardPass(model, activations);
    }

    @Override
    public void onGradientCalculation(Model model) {
        listener.onGradientCalculation(model);
    }

    @Override
    public void onBackwardPass(Model model) {
        listener.onBackwardPass(model);
    }

    @Override
    public String toString() {
        return "FullNetworkListener(" + listener + ")";
    }
}
