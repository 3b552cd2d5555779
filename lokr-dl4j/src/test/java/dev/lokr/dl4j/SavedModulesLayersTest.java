package dev.lokr.dl4j;

import dev.lokr.io.AdapterFile;
import dev.lokr.io.DType;
import dev.lokr.io.SafetensorsWriter;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A PEFT file's saved modules in a DL4J network: which layers they name ({@link LokrNetworks#layersWithSavedModules}),
 * and the copy into plain dense and output layers by {@link LokrNetworks#apply(MultiLayerNetwork, AdapterFile)} and
 * {@link LokrNetwork#loadAdapter} ({@link LokrNetworks#planSavedModules}).
 */
class SavedModulesLayersTest {

    @TempDir
    Path dir;

    /** A file with a LoKR module on dense_0 and the given extra tensors (names only matter here). */
    private Path file(String fileName, String prefix, String... extra) throws Exception {
        List<SafetensorsWriter.Tensor> ts = new ArrayList<>();
        ts.add(SafetensorsWriter.Tensor.of(prefix + "dense_0.lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32));
        ts.add(SafetensorsWriter.Tensor.of(prefix + "dense_0.lokr_w2", Nd4j.ones(DataType.FLOAT, 3, 2), DType.F32));
        for (String name : extra) {
            ts.add(SafetensorsWriter.Tensor.of(name, Nd4j.ones(DataType.FLOAT, 2), DType.F32));
        }
        Path file = dir.resolve(fileName);
        SafetensorsWriter.write(file, null, ts);
        Files.writeString(dir.resolve("adapter_config.json"), "{\"peft_type\":\"LOKR\",\"r\":2,\"alpha\":2}");
        return file;
    }

    @Test
    void aPeftFilesSavedHeadNamesItsLayer() throws Exception {
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 7);
        Path peft = file("adapter_model.safetensors", "base_model.model.",
                "base_model.model.out.weight", "base_model.model.out.bias",
                "base_model.model.embed.token_adapter.trainable_tokens_delta", "base_model.model.weight");
        try (AdapterFile f = AdapterFile.read(peft)) {
            assertEquals(List.of("out"), LokrNetworks.layersWithSavedModules(net, f));
        }
    }

    @Test
    void aPeftFileWithoutSavedModulesAndALycorisFileNameNone() throws Exception {
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 7);
        try (AdapterFile f = AdapterFile.read(file("adapter_model.safetensors", "base_model.model."))) {
            assertEquals(List.of(), LokrNetworks.layersWithSavedModules(net, f));
        }
        // a LyCORIS file holding a tensor that looks like a PEFT name has no saved modules
        try (AdapterFile f = AdapterFile.read(file("lycoris.safetensors", "lycoris_", "base_model.model.out.weight"))) {
            assertEquals(AdapterFile.Format.LYCORIS, f.format());
            assertEquals(List.of(), LokrNetworks.layersWithSavedModules(net, f));
        }
    }

    /**
     * A PEFT classifier adapter: a LoKR module on dense_0 ([36, 24] as PyTorch holds it: w1 [6, 4], w2 [6, 6])
     * and the head {@code out} saved whole ([6, 36] and [6]), plus the given extra tensors.
     */
    private Path classifier(INDArray headWeight, INDArray headBias) throws Exception {
        List<SafetensorsWriter.Tensor> ts = new ArrayList<>();
        ts.add(SafetensorsWriter.Tensor.of("base_model.model.dense_0.lokr_w1",
                Nd4j.rand(DataType.FLOAT, 6, 4).subi(0.5).muli(0.1), DType.F32));
        ts.add(SafetensorsWriter.Tensor.of("base_model.model.dense_0.lokr_w2",
                Nd4j.rand(DataType.FLOAT, 6, 6).subi(0.5).muli(0.1), DType.F32));
        ts.add(SafetensorsWriter.Tensor.of("base_model.model.out.weight", headWeight, DType.F32));
        if (headBias != null) {
            ts.add(SafetensorsWriter.Tensor.of("base_model.model.out.bias", headBias, DType.F32));
        }
        Path file = dir.resolve("adapter_model.safetensors");
        SafetensorsWriter.write(file, null, ts);
        Files.writeString(dir.resolve("adapter_config.json"),
                "{\"peft_type\":\"LOKR\",\"r\":8,\"alpha\":8,\"modules_to_save\":[\"out\"]}");
        return file;
    }

    @Test
    void applyCopiesASavedHeadIntoTheOutputLayerAsPeftUsesIt() throws Exception {
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 8);
        INDArray before = net.getLayer("out").getParam("W").dup();
        INDArray head = Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES, Fixtures.DENSE_HIDDEN);
        INDArray bias = Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES);
        try (AdapterFile f = AdapterFile.read(classifier(head, bias))) {
            MultiLayerNetwork adapted = LokrNetworks.apply(net, f).network();
            assertEquals(head.transpose(), adapted.getLayer("out").getParam("W"), "W [nIn, nOut] = weight^T");
            assertEquals(bias, adapted.getLayer("out").getParam("b").reshape(Fixtures.CLASSES));
            assertEquals(before, net.getLayer("out").getParam("W"), "the given network is not modified");
            // a loaded network gets the head too
            LokrNetwork<MultiLayerNetwork> other = LokrNetworks.apply(
                    Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 9), f);
            other.network().getLayer("out").getParam("W").assign(0);
            other.loadAdapter(f.path());
            assertEquals(head.transpose(), other.network().getLayer("out").getParam("W"));
            // and a graph
            org.deeplearning4j.nn.graph.ComputationGraph graph = LokrNetworks.apply(
                    Fixtures.denseGraph(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 13), f).network();
            assertEquals(head.transpose(), graph.getLayer("out").getParam("W"));
        }
    }

    @Test
    void aSavedHeadOfAnotherShapeIsRefusedAndChangesNothing() throws Exception {
        INDArray wrong = Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES + 1, Fixtures.DENSE_HIDDEN);
        try (AdapterFile f = AdapterFile.read(classifier(wrong, Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES)))) {
            MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 10);
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> LokrNetworks.apply(net, f));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains(
                    "saved tensor base_model.model.out.weight [7, 36] does not fit layer out (W [36, 6], so [6, 36]"
                            + " in PyTorch's layout)"), e.getMessage());
        }
        // loadAdapter checks it before changing anything, the LoKR tensors included
        LokrNetwork<MultiLayerNetwork> adapted;
        try (AdapterFile f = AdapterFile.read(classifier(Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES,
                Fixtures.DENSE_HIDDEN), Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES)))) {
            adapted = LokrNetworks.apply(Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 11), f);
        }
        INDArray params = adapted.network().params().dup();
        Path bad = classifier(wrong, Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES));
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> adapted.loadAdapter(bad));
        assertEquals(params, adapted.network().params(), "nothing changed");
    }

    @Test
    void aSavedModuleForALayerOfAnotherKindIsLeftAlone() throws Exception {
        // the adapted dense_0 itself: its weight is the LoKR base, not a head to copy
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 12);
        Path file = classifier(Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES, Fixtures.DENSE_HIDDEN), null);
        SafetensorsWriter.write(file, null, List.of(
                SafetensorsWriter.Tensor.of("base_model.model.dense_0.lokr_w1", Nd4j.ones(DataType.FLOAT, 6, 4), DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.dense_0.lokr_w2", Nd4j.ones(DataType.FLOAT, 6, 6), DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.dense_0.weight",
                        Nd4j.ones(DataType.FLOAT, Fixtures.DENSE_HIDDEN, Fixtures.DENSE_IN), DType.F32)));
        try (AdapterFile f = AdapterFile.read(file)) {
            MultiLayerNetwork adapted = LokrNetworks.apply(net, f).network();
            assertEquals(List.of("dense_0"), LokrNetworks.layersWithSavedModules(adapted, f));
            assertEquals(List.of(), LokrNetworks.planSavedModules(adapted, f, java.util.Set.of()).copies(),
                    "an adapted layer takes no copy");
            assertEquals(List.of("dense_0"), LokrNetworks.planSavedModules(adapted, f, java.util.Set.of()).left());
            assertEquals(net.getLayer("dense_0").getParam("W"), adapted.getLayer("dense_0").getParam("W"));
        }
    }

    /** PEFT trains modules_to_save: freezing the other layers leaves a head that took a saved module trainable. */
    @Test
    void freezingTheOthersLeavesTheCopiedHeadTrainable() throws Exception {
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 14);
        INDArray head = Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES, Fixtures.DENSE_HIDDEN);
        try (AdapterFile f = AdapterFile.read(classifier(head, Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES)))) {
            MultiLayerNetwork adapted = LokrNetworks.apply(dev.lokr.LokrAdapter.builder().build(), net, f,
                    java.util.Map.of("dense_0", "dense_0"), true).network();
            org.deeplearning4j.nn.conf.layers.BaseLayer out = (org.deeplearning4j.nn.conf.layers.BaseLayer)
                    adapted.getLayerWiseConfigurations().getConf(1).getLayer();
            org.junit.jupiter.api.Assertions.assertFalse(Frozen.isFreezeOthersUpdater(out.getIUpdater()),
                    "the head keeps its updater: " + out.getIUpdater());
            assertEquals(head.transpose(), adapted.getLayer("out").getParam("W"));
        }
    }

    @Test
    void aWeightWithoutTheLayersBiasIsRefused() throws Exception {
        try (AdapterFile f = AdapterFile.read(classifier(Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES,
                Fixtures.DENSE_HIDDEN), null))) {
            MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 15);
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> LokrNetworks.apply(net, f));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains(
                    "the adapter saves [weight] for layer out, which has [weight, bias]"), e.getMessage());
        }
    }

    @Test
    void savedTensorsThatNameNoLayerAreLeftOut() throws Exception {
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 16);
        try (AdapterFile f = AdapterFile.read(file("adapter_model.safetensors", "base_model.model.",
                "base_model.model.classifier.weight", "base_model.model.classifier.bias"))) {
            LokrNetworks.SavedPlan plan = LokrNetworks.planSavedModules(net, f, java.util.Set.of());
            assertEquals(List.of(), plan.copies());
            assertEquals(List.of("base_model.model.classifier.weight", "base_model.model.classifier.bias"),
                    plan.unmatched());
        }
    }

    /** A head holding NaN, or a bias of another length, is refused before anything changes, naming the layer. */
    @Test
    void aSavedHeadWithNaNOrABiasOfAnotherLengthIsRefused() throws Exception {
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 18);
        INDArray nan = Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES, Fixtures.DENSE_HIDDEN);
        nan.putScalar(2, 5, Float.NaN);
        try (AdapterFile f = AdapterFile.read(classifier(nan, Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES)))) {
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> LokrNetworks.apply(net, f));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains(
                    "saved tensor base_model.model.out.weight for layer out holds NaN"), e.getMessage());
        }
        try (AdapterFile f = AdapterFile.read(classifier(Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES,
                Fixtures.DENSE_HIDDEN), Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES + 1)))) {
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> LokrNetworks.apply(net, f));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains(
                    "saved tensor base_model.model.out.bias [7] does not fit layer out (b [6], so [6]"),
                    e.getMessage());
        }
    }

    /** A saved weight of a dtype lokr does not read (I64) is refused with the layer named, not an unchecked error. */
    @Test
    void aSavedHeadOfAnUnreadableDtypeIsRefused() throws Exception {
        Path file = classifier(Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES, Fixtures.DENSE_HIDDEN), null);
        SafetensorsWriter.write(file, null, List.of(
                SafetensorsWriter.Tensor.of("base_model.model.dense_0.lokr_w1", Nd4j.ones(DataType.FLOAT, 6, 4), DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.dense_0.lokr_w2", Nd4j.ones(DataType.FLOAT, 6, 6), DType.F32),
                SafetensorsWriter.Tensor.raw("base_model.model.out.weight", DType.I64,
                        new long[] {Fixtures.CLASSES, Fixtures.DENSE_HIDDEN},
                        java.nio.ByteBuffer.allocate(8 * Fixtures.CLASSES * Fixtures.DENSE_HIDDEN)),
                SafetensorsWriter.Tensor.of("base_model.model.out.bias", Nd4j.ones(DataType.FLOAT, Fixtures.CLASSES),
                        DType.F32)));
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 19);
        try (AdapterFile f = AdapterFile.read(file)) {
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> LokrNetworks.apply(net, f));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains(
                    "saved tensor base_model.model.out.weight for layer out: "), e.getMessage());
        }
    }

    /**
     * Only plain dense and output layers with nothing but weight and bias saved take a copy: a saved parameter
     * other than those (a layer saved with more than PyTorch's Linear holds), or a dense layer with layer norm,
     * leaves the layer as it is.
     */
    @Test
    void aSavedModuleWithOtherParametersOrOnALayerNormedDenseLayerIsLeft() throws Exception {
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 20);
        Path file = classifier(Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES, Fixtures.DENSE_HIDDEN),
                Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES));
        List<SafetensorsWriter.Tensor> ts = new ArrayList<>(List.of(
                SafetensorsWriter.Tensor.of("base_model.model.dense_0.lokr_w1", Nd4j.ones(DataType.FLOAT, 6, 4), DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.dense_0.lokr_w2", Nd4j.ones(DataType.FLOAT, 6, 6), DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.out.weight",
                        Nd4j.rand(DataType.FLOAT, Fixtures.CLASSES, Fixtures.DENSE_HIDDEN), DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.out.bias", Nd4j.ones(DataType.FLOAT, Fixtures.CLASSES),
                        DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.out.scale", Nd4j.ones(DataType.FLOAT, Fixtures.CLASSES),
                        DType.F32)));
        SafetensorsWriter.write(file, null, ts);
        try (AdapterFile f = AdapterFile.read(file)) {
            LokrNetworks.SavedPlan plan = LokrNetworks.planSavedModules(net, f, java.util.Set.of());
            assertEquals(List.of(), plan.copies(), "a saved parameter other than weight and bias");
            assertEquals(List.of("out"), plan.left());
        }
        // a dense layer with layer norm: weight and bias alone do not make what PyTorch's Linear computes
        MultiLayerNetwork normed = new MultiLayerNetwork(new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder()
                .seed(21).dataType(DataType.FLOAT).list()
                .layer(new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().name("dense_0").nIn(Fixtures.DENSE_IN)
                        .nOut(Fixtures.DENSE_HIDDEN).build())
                .layer(new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().name("normed").nIn(Fixtures.DENSE_HIDDEN)
                        .nOut(4).hasLayerNorm(true).build())
                .layer(new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder().name("last").nIn(4).nOut(4)
                        .activation(org.nd4j.linalg.activations.Activation.SOFTMAX).build())
                .build());
        normed.init();
        ts.set(2, SafetensorsWriter.Tensor.of("base_model.model.normed.weight",
                Nd4j.rand(DataType.FLOAT, 4, Fixtures.DENSE_HIDDEN), DType.F32));
        ts.set(3, SafetensorsWriter.Tensor.of("base_model.model.normed.bias", Nd4j.ones(DataType.FLOAT, 4), DType.F32));
        ts.remove(4);
        SafetensorsWriter.write(file, null, ts);
        try (AdapterFile f = AdapterFile.read(file)) {
            LokrNetworks.SavedPlan plan = LokrNetworks.planSavedModules(normed, f, java.util.Set.of());
            assertEquals(List.of(), plan.copies(), "a layer-normed dense layer");
            assertEquals(List.of("normed"), plan.left());
        }
    }

    /** dense_0, then a dense layer named {@code hidden} [36 -> 4] and an output layer named {@code out} [4 -> 4]. */
    private static MultiLayerNetwork twoNamed(String hidden, String out) {
        MultiLayerNetwork net = new MultiLayerNetwork(new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder()
                .seed(17).dataType(DataType.FLOAT).list()
                .layer(new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().name("dense_0").nIn(Fixtures.DENSE_IN)
                        .nOut(Fixtures.DENSE_HIDDEN).build())
                .layer(new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().name(hidden).nIn(Fixtures.DENSE_HIDDEN)
                        .nOut(4).build())
                .layer(new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder().name(out).nIn(4).nOut(4)
                        .activation(org.nd4j.linalg.activations.Activation.SOFTMAX).build())
                .build());
        net.init();
        return net;
    }

    /** Two layers whose names differ only by '.' and '_': the exact name wins; otherwise the match is refused. */
    @Test
    void aSavedModuleGoesToTheLayerOfItsExactNameAndIsRefusedWhenAmbiguous() throws Exception {
        MultiLayerNetwork net = twoNamed("h.x", "h_x");
        INDArray w = Nd4j.rand(DataType.FLOAT, 4, Fixtures.DENSE_HIDDEN);
        Path file = file("adapter_model.safetensors", "base_model.model.");
        List<SafetensorsWriter.Tensor> ts = new ArrayList<>(List.of(
                SafetensorsWriter.Tensor.of("base_model.model.dense_0.lokr_w1", Nd4j.ones(DataType.FLOAT, 6, 4), DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.dense_0.lokr_w2", Nd4j.ones(DataType.FLOAT, 6, 6), DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.h.x.weight", w, DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.h.x.bias", Nd4j.ones(DataType.FLOAT, 4), DType.F32)));
        SafetensorsWriter.write(file, null, ts);
        try (AdapterFile f = AdapterFile.read(file)) {
            MultiLayerNetwork adapted = LokrNetworks.apply(net, f).network();
            assertEquals(w.transpose(), adapted.getLayer("h.x").getParam("W"));
            assertEquals(net.getLayer("h_x").getParam("W"), adapted.getLayer("h_x").getParam("W"));
        }
        // h_x names the output layer exactly, so its saved module goes there
        ts.set(2, SafetensorsWriter.Tensor.of("base_model.model.h_x.weight", Nd4j.rand(DataType.FLOAT, 4, 4), DType.F32));
        ts.set(3, SafetensorsWriter.Tensor.of("base_model.model.h_x.bias", Nd4j.ones(DataType.FLOAT, 4), DType.F32));
        SafetensorsWriter.write(file, null, ts);
        try (AdapterFile f = AdapterFile.read(file)) {
            assertEquals(java.util.Set.of("h_x"), LokrNetworks.planSavedModules(net, f, java.util.Set.of()).layers());
        }
        // h.x.y would fit layers "h.x_y" and "h_x.y" alike, and names neither exactly: refused
        MultiLayerNetwork twinNet = twoNamed("h.x_y", "h_x.y");
        ts.set(2, SafetensorsWriter.Tensor.of("base_model.model.h.x.y.weight", Nd4j.rand(DataType.FLOAT, 4, 4), DType.F32));
        ts.set(3, SafetensorsWriter.Tensor.of("base_model.model.h.x.y.bias", Nd4j.ones(DataType.FLOAT, 4), DType.F32));
        SafetensorsWriter.write(file, null, ts);
        try (AdapterFile f = AdapterFile.read(file)) {
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> LokrNetworks.apply(twinNet, f));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains(
                    "saved tensor base_model.model.h.x.y.weight matches several layers [h.x_y, h_x.y]"), e.getMessage());
        }
    }
}
