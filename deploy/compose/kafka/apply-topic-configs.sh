#!/bin/sh
# Apply the per-topic configs of deploy/topics.yaml to topics `shared.cli topics` created
# (tests/integration/deploy/test_manifests.py checks the table below matches topics.yaml).
# Runs in the apache/kafka image, which has the Kafka tools but no YAML parser.
set -eu
BOOTSTRAP="${KAFKA_BOOTSTRAP_SERVERS:?KAFKA_BOOTSTRAP_SERVERS is not set}"

while read -r topic configs; do
    [ -n "$topic" ] || continue
    /opt/kafka/bin/kafka-configs.sh --bootstrap-server "$BOOTSTRAP" \
        --alter --entity-type topics --entity-name "$topic" --add-config "$configs"
done <<'TOPICS'
complaints.ticket.v1 cleanup.policy=delete,retention.ms=1209600000,min.insync.replicas=2
complaints.routing.v1 cleanup.policy=delete,retention.ms=1209600000,min.insync.replicas=2
complaints.sla.v1 cleanup.policy=delete,retention.ms=1209600000,min.insync.replicas=2
complaints.refund.v1 cleanup.policy=delete,retention.ms=1209600000,min.insync.replicas=2
complaints.notify.v1 cleanup.policy=delete,retention.ms=1209600000,min.insync.replicas=2
complaints.dlq.intake.v1 cleanup.policy=delete,retention.ms=7776000000,min.insync.replicas=2
complaints.dlq.routing.v1 cleanup.policy=delete,retention.ms=7776000000,min.insync.replicas=2
complaints.dlq.sla.v1 cleanup.policy=delete,retention.ms=7776000000,min.insync.replicas=2
complaints.dlq.refund.v1 cleanup.policy=delete,retention.ms=7776000000,min.insync.replicas=2
complaints.dlq.notify.v1 cleanup.policy=delete,retention.ms=7776000000,min.insync.replicas=2
TOPICS
echo "topic configs applied"
