package io.crmio.examples;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Follows crmio jobs on the status topic: what Confluent's KafkaAvroDeserializer does, with plain Apache Avro.
 *
 * <p>Each value is framed the Confluent way: byte 0, a 4-byte big-endian schema id, the Avro body. The writer's
 * schema is fetched from the registry by that id (GET /schemas/ids/{id}, kept per id) and resolved to the
 * reader's own copy of job_status.v1.avsc, so a later compatible version still reads.
 *
 * <p>Arguments: bootstrap servers, topic, registry URL, reader schema file, job id, seconds to wait. Prints one
 * JSON line per status event of the job ({"schema_id": N, "status": {...}}) and stops once the job is final.
 */
public final class StatusConsumer {
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final Map<Integer, Schema> WRITERS = new HashMap<>();
    private static final List<String> FINAL = List.of("completed", "failed", "cancelled");

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: StatusConsumer BOOTSTRAP TOPIC REGISTRY_URL READER_AVSC JOB_ID SECONDS");
            System.exit(2);
        }
        String bootstrap = args[0], topic = args[1], registry = args[2].replaceAll("/+$", ""), jobId = args[4];
        Schema reader = new Schema.Parser().parse(new File(args[3]));
        long deadline = System.nanoTime() + Duration.ofSeconds(Long.parseLong(args[5])).toNanos();

        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic).stream()
                    .map(p -> new TopicPartition(topic, p.partition()))
                    .collect(Collectors.toList());
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            while (System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(500))) {
                    if (record.key() == null || !jobId.equals(new String(record.key(), StandardCharsets.UTF_8))) {
                        continue;
                    }
                    ByteBuffer value = ByteBuffer.wrap(record.value());
                    if (value.get() != 0) {
                        throw new IllegalStateException("not Confluent-framed Avro at offset " + record.offset());
                    }
                    int schemaId = value.getInt();
                    GenericDatumReader<GenericRecord> datumReader =
                            new GenericDatumReader<>(writer(registry, schemaId), reader);
                    GenericRecord status = datumReader.read(null, DecoderFactory.get()
                            .binaryDecoder(record.value(), value.position(), value.remaining(), null));
                    System.out.println("{\"schema_id\": " + schemaId + ", \"status\": " + status + "}");
                    if (FINAL.contains(status.get("job_status").toString())) {
                        return;
                    }
                }
            }
        }
        System.err.println("job " + jobId + " did not reach a final status in time");
        System.exit(1);
    }

    private static Schema writer(String registry, int id) throws IOException, InterruptedException {
        Schema known = WRITERS.get(id);
        if (known != null) {
            return known;
        }
        HttpRequest request = HttpRequest.newBuilder(URI.create(registry + "/schemas/ids/" + id))
                .header("Accept", "application/vnd.schemaregistry.v1+json").build();
        HttpResponse<String> response = HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            throw new IOException("the registry answered " + response.statusCode() + " for schema id " + id);
        }
        Schema schema = new Schema.Parser().parse(schemaField(response.body()));
        WRITERS.put(id, schema);
        return schema;
    }

    /** The "schema" string of the registry's answer; the Avro jar carries no general JSON API, Jackson does. */
    private static String schemaField(String body) throws IOException {
        com.fasterxml.jackson.databind.JsonNode node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(body);
        if (!node.hasNonNull("schema")) {
            throw new IOException("the registry's answer holds no schema: " + body);
        }
        return node.get("schema").asText();
    }
}
