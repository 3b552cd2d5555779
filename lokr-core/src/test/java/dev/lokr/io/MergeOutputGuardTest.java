package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/** {@link AdapterMerge#mergeFile}: an output that is the adapter file, or the PEFT config beside it, is refused. */
class MergeOutputGuardTest {

    @TempDir
    Path dir;

    @Test
    void theAdapterAndItsPeftConfigAreNeverTheOutput() throws Exception {
        Path base = dir.resolve("base.safetensors");
        SafetensorsWriter.write(base, null,
                List.of(SafetensorsWriter.Tensor.of("fc.weight", Nd4j.ones(DataType.FLOAT, 6, 4), DType.F32)));
        Path adapter = dir.resolve("adapter_model.safetensors");
        SafetensorsWriter.write(adapter, null, List.of(
                SafetensorsWriter.Tensor.of("base_model.model.fc.lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.fc.lokr_w2", Nd4j.ones(DataType.FLOAT, 3, 2), DType.F32)));
        Path config = dir.resolve(AdapterFile.PEFT_CONFIG);
        Files.writeString(config, "{\"peft_type\":\"LOKR\",\"r\":2,\"alpha\":2}");
        byte[] adapterBytes = Files.readAllBytes(adapter);
        byte[] configBytes = Files.readAllBytes(config);

        IllegalArgumentException toConfig = assertThrows(IllegalArgumentException.class,
                () -> AdapterMerge.mergeFile(base, adapter, config, 1.0, null));
        assertTrue(toConfig.getMessage().contains("is the adapter's PEFT config"), toConfig.getMessage());
        // the same file by another path
        Path viaDot = dir.resolve(".").resolve(AdapterFile.PEFT_CONFIG);
        assertThrows(IllegalArgumentException.class, () -> AdapterMerge.mergeFile(base, adapter, viaDot, 1.0, null));

        IllegalArgumentException toAdapter = assertThrows(IllegalArgumentException.class,
                () -> AdapterMerge.mergeFile(base, adapter, adapter, 1.0, null));
        assertTrue(toAdapter.getMessage().contains("is the adapter file"), toAdapter.getMessage());

        assertArrayEquals(configBytes, Files.readAllBytes(config), "config untouched");
        assertArrayEquals(adapterBytes, Files.readAllBytes(adapter), "adapter untouched");
        // another output is merged as usual
        AdapterMerge.mergeFile(base, adapter, dir.resolve("merged.safetensors"), 1.0, null);
        assertTrue(Files.exists(dir.resolve("merged.safetensors")));
    }
}
