//! The one place where every component type is registered. `sentinel components` lists
//! this, the validator checks configs against it, and the runtime builds from it.

use sentinel_pipeline::{
    ConnectorFactory, ExporterFactory, Factory, ProcessorFactory, ReceiverFactory,
};

/// Every factory the agent knows, by kind.
pub struct Registry {
    pub receivers: Vec<Box<dyn ReceiverFactory>>,
    pub processors: Vec<Box<dyn ProcessorFactory>>,
    pub exporters: Vec<Box<dyn ExporterFactory>>,
    pub connectors: Vec<Box<dyn ConnectorFactory>>,
}

impl Registry {
    /// The built-in components. Add a new component here, and only here.
    pub fn builtin() -> Registry {
        Registry {
            receivers: vec![
                // receivers
                Box::new(crate::receivers::otlp::OtlpReceiverFactory),
                Box::new(crate::receivers::hostmetrics::HostMetricsReceiverFactory),
                Box::new(crate::receivers::hooks::HooksReceiverFactory),
                Box::new(crate::receivers::postgresql::PostgresqlReceiverFactory),
                Box::new(crate::receivers::pgbouncer::PgbouncerReceiverFactory),
                Box::new(crate::receivers::redis::RedisReceiverFactory),
                Box::new(crate::receivers::httpcheck::HttpCheckReceiverFactory),
                Box::new(crate::receivers::tcpcheck::TcpCheckReceiverFactory),
                #[cfg(feature = "kafka")]
                Box::new(crate::receivers::kafka::KafkaReceiverFactory),
            ],
            processors: vec![
                Box::new(sentinel_processors::batch::BatchFactory),
                Box::new(sentinel_processors::memory_limiter::MemoryLimiterFactory),
                Box::new(sentinel_processors::attributes::AttributesFactory),
                Box::new(sentinel_processors::resource::ResourceFactory),
                Box::new(sentinel_processors::resourcedetection::ResourceDetectionFactory),
                Box::new(sentinel_processors::llm_cost::LlmCostProcessorFactory),
                Box::new(sentinel_processors::pool_metrics::PoolMetricsFactory),
                Box::new(sentinel_processors::filter::FilterFactory),
                Box::new(sentinel_processors::probabilistic_sampler::ProbabilisticSamplerFactory),
                Box::new(sentinel_processors::dedup::DedupFactory),
                Box::new(sentinel_processors::tail_sampling::TailSamplingFactory),
            ],
            exporters: vec![
                Box::new(sentinel_exporters::otlp::OtlpFactory),
                Box::new(sentinel_exporters::otlphttp::OtlpHttpFactory),
                Box::new(sentinel_exporters::file::FileFactory),
                Box::new(sentinel_exporters::debug::DebugFactory),
                Box::new(sentinel_exporters::prometheus::PrometheusFactory),
                Box::new(sentinel_exporters::blackhole::BlackholeFactory),
                Box::new(sentinel_exporters::loadbalancing::LoadBalancingFactory),
                Box::new(sentinel_exporters::prometheusremotewrite::RemoteWriteFactory),
                Box::new(sentinel_exporters::postgres::PostgresFactory),
                #[cfg(feature = "kafka")]
                Box::new(sentinel_exporters::kafka::KafkaExporterFactory),
                Box::new(sentinel_exporters::alertmanager::AlertmanagerFactory),
                Box::new(sentinel_exporters::webhook::WebhookFactory),
                Box::new(sentinel_exporters::slack::SlackFactory),
                Box::new(sentinel_exporters::pagerduty::PagerDutyFactory),
                Box::new(sentinel_exporters::email::EmailFactory),
            ],
            connectors: vec![
                Box::new(sentinel_processors::forward::ForwardFactory),
                Box::new(sentinel_processors::count::CountFactory),
                Box::new(sentinel_processors::llm_cost::LlmCostConnectorFactory),
                Box::new(sentinel_processors::hook_metrics::HookMetricsFactory),
                Box::new(sentinel_processors::spanmetrics::SpanMetricsFactory),
                Box::new(sentinel_processors::anomaly::AnomalyFactory),
                Box::new(sentinel_processors::alert_rules::AlertRulesFactory),
            ],
        }
    }

    pub fn receiver(&self, type_name: &str) -> Option<&dyn ReceiverFactory> {
        find(&self.receivers, type_name)
    }

    pub fn processor(&self, type_name: &str) -> Option<&dyn ProcessorFactory> {
        find(&self.processors, type_name)
    }

    pub fn exporter(&self, type_name: &str) -> Option<&dyn ExporterFactory> {
        find(&self.exporters, type_name)
    }

    pub fn connector(&self, type_name: &str) -> Option<&dyn ConnectorFactory> {
        find(&self.connectors, type_name)
    }

    /// Every factory as its common trait, for listings and type-name suggestions.
    pub fn all(&self) -> Vec<&dyn Factory> {
        let mut all: Vec<&dyn Factory> = Vec::new();
        all.extend(self.receivers.iter().map(|f| f.as_ref() as &dyn Factory));
        all.extend(self.processors.iter().map(|f| f.as_ref() as &dyn Factory));
        all.extend(self.exporters.iter().map(|f| f.as_ref() as &dyn Factory));
        all.extend(self.connectors.iter().map(|f| f.as_ref() as &dyn Factory));
        all
    }
}

fn find<'a, F: Factory + ?Sized>(factories: &'a [Box<F>], type_name: &str) -> Option<&'a F> {
    factories
        .iter()
        .find(|f| f.info().type_name == type_name)
        .map(|f| f.as_ref())
}

#[cfg(test)]
mod compliance_coverage;
