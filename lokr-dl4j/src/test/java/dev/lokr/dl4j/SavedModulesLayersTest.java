package dev.lokr.dl4j;

import dev.lokr.io.AdapterFile;
import dev.lokr.io.DType;
import dev.lokr.io.SafetensorsWriter;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link LokrNetworks#layersWithSavedModules}: the layers for which a PEFT file saves whole modules, which
 * loading the adapter into a network does not take (and warns about).
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
}
