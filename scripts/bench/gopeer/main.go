// The Go worker the relay is compared with (BENCHMARKS.md): what a Go team writes in an afternoon.
// A sarama consumer group (protocol 0.11.0.0, the newest librdkafka 2.0.2's mock answers), a
// goroutine per record with at most 64 in flight, Standard Webhooks HMAC-SHA256 headers, net/http
// with keep-alive, the record marked after its attempt, no retries. Stops after N 2xx answers.
//
// Usage: gopeer BOOTSTRAP TOPIC URL N SECRET   (POSTs to URL/<record key>)
// Built in GOPATH mode against Debian's golang-github-shopify-sarama-dev (scripts/bench/e2e.sh).
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Shopify/sarama"
)

type worker struct {
	client    *http.Client
	baseURL   string
	key       []byte
	slots     chan struct{}
	delivered int64
	total     int64
	done      chan struct{}
	once      sync.Once
}

func (w *worker) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (w *worker) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (w *worker) ConsumeClaim(session sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for message := range claim.Messages() {
		w.slots <- struct{}{}
		go func(m *sarama.ConsumerMessage) {
			defer func() { <-w.slots }()
			w.deliver(m)
			session.MarkMessage(m, "")
		}(message)
	}
	return nil
}

func (w *worker) deliver(m *sarama.ConsumerMessage) {
	id := fmt.Sprintf("%d_%d", m.Partition, m.Offset)
	for _, header := range m.Headers {
		if string(header.Key) == "webhook-id" {
			id = string(header.Value)
		}
	}
	timestamp := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, w.key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(m.Value)
	request, err := http.NewRequest(http.MethodPost, w.baseURL+"/"+string(m.Key), bytes.NewReader(m.Value))
	if err != nil {
		return
	}
	request.Header.Set("webhook-id", id)
	request.Header.Set("webhook-timestamp", timestamp)
	request.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	request.Header.Set("content-type", "application/json")
	response, err := w.client.Do(request)
	if err != nil {
		return
	}
	io.Copy(io.Discard, response.Body)
	response.Body.Close()
	if response.StatusCode >= 200 && response.StatusCode < 300 && atomic.AddInt64(&w.delivered, 1) >= w.total {
		w.once.Do(func() { close(w.done) })
	}
}

func main() {
	if len(os.Args) != 6 {
		log.Fatal("usage: gopeer BOOTSTRAP TOPIC URL N SECRET")
	}
	total, err := strconv.ParseInt(os.Args[4], 10, 64)
	if err != nil {
		log.Fatal("N: ", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(os.Args[5], "whsec_"))
	if err != nil {
		log.Fatal("SECRET: ", err)
	}
	config := sarama.NewConfig()
	config.Version = sarama.V0_11_0_0
	config.Consumer.Offsets.Initial = sarama.OffsetOldest
	group, err := sarama.NewConsumerGroup(strings.Split(os.Args[1], ","), fmt.Sprintf("go-peer-%d", time.Now().UnixNano()), config)
	if err != nil {
		log.Fatal(err)
	}
	transport := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 64, IdleConnTimeout: 60 * time.Second}
	w := &worker{
		client: &http.Client{Transport: transport, Timeout: 10 * time.Second}, baseURL: os.Args[3], key: key,
		slots: make(chan struct{}, 64), total: total, done: make(chan struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-w.done
		cancel()
	}()
	for ctx.Err() == nil {
		if err := group.Consume(ctx, []string{os.Args[2]}, w); err != nil {
			log.Println(err)
			time.Sleep(time.Second)
		}
	}
	group.Close()
}
