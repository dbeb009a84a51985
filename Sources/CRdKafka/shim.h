#ifndef WEBHOOK_RELAY_CRDKAFKA_SHIM_H
#define WEBHOOK_RELAY_CRDKAFKA_SHIM_H

// rdkafka_mock.h needs the declarations of rdkafka.h: keep this order.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/// `rd_kafka_producev` is variadic with macro arguments, which Swift cannot call.
/// This wrapper produces one message (payload and key copied by librdkafka).
/// On success librdkafka owns `headers`; on failure the caller still owns them.
/// `partition` is `RD_KAFKA_PARTITION_UA` to let the partitioner choose.
static inline rd_kafka_resp_err_t wr_rd_kafka_produce(rd_kafka_t *rk,
                                                      const char *topic,
                                                      int32_t partition,
                                                      const void *key,
                                                      size_t key_len,
                                                      const void *value,
                                                      size_t value_len,
                                                      rd_kafka_headers_t *headers,
                                                      void *opaque) {
        return rd_kafka_producev(rk,
                                 RD_KAFKA_V_TOPIC(topic),
                                 RD_KAFKA_V_PARTITION(partition),
                                 RD_KAFKA_V_KEY(key, key_len),
                                 RD_KAFKA_V_VALUE((void *)value, value_len),
                                 RD_KAFKA_V_HEADERS(headers),
                                 RD_KAFKA_V_OPAQUE(opaque),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END);
}

/// `RD_KAFKA_PARTITION_UA` is a macro Swift does not import as a constant.
static const int32_t wr_rd_kafka_partition_unassigned = RD_KAFKA_PARTITION_UA;

#endif
