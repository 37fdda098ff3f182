pub mod promql;
