package dev.lokr.dl4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.conf.LokrLayer;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParams;
import java.util.HashMap;
import java.util.Map;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Adam;

/**
 * The base's weight shape is fixed only once a network is built from the configuration (a clone, not yet built,
 * takes a base of any shape); a scale beyond FLOAT of either sign is refused when loaded into a FLOAT network.
 */
class BaseAndScaleGuardsTest {

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    @Test
    void anUnbuiltCloneTakesABaseOfAnotherShape() {
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(LokrAdapter.builder().rank(2).build(),
                Fixtures.denseMln(DataType.DOUBLE, WorkspaceMode.ENABLED, new Adam(1e-2), 31), Targets.all());
        LokrLayer built = a.layerConf("dense_0");
        LokrLayer free = (LokrLayer) a.network().getLayerWiseConfigurations().clone().getConf(0).getLayer();
        DenseLayer wider = (DenseLayer) built.getBase().clone();
        wider.setNOut(wider.getNOut() + 4);
        free.setBase(wider);   // no network is built from the clone yet
        assertArrayEquals(new long[] {wider.getNOut(), wider.getNIn()}, free.weightShape());
        assertThrows(IllegalStateException.class, () -> built.setBase(wider), "the built one still refuses it");
    }

    @Test
    void aNegativeScaleBeyondFloatIsRefusedWhenLoaded() {
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(LokrAdapter.builder().rank(2).build(),
                Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 41), Targets.all());
        Fixtures.randomizeAdapters(a, 42);
        INDArray before = a.network().params().dup();
        Map<String, LokrParams> huge = new HashMap<>();
        a.adapterParams().forEach((k, v) -> {
            LokrLayout l = v.layout();
            huge.put(k, LokrParams.of(LokrLayout.explicit(l.weightShape(), l.a(), l.b(), l.c(), l.d(), l.rank(),
                    l.w1Mode(), l.w2Mode(), -1e39, l.scalar(), l.doraAxis(), l.detachNorm()),
                    v.castTo(DataType.DOUBLE).asMap()));
        });
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.loadAdapterParams(huge));
        assertTrue(e.getMessage().endsWith("scale -1.0E39 is beyond the range of the network's FLOAT ("
                + Float.MAX_VALUE + ")"), e.getMessage());
        Checks.assertBitIdentical(before, a.network().params(), "the refused load changed nothing");
    }
}
