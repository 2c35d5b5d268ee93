//! `consent.v1.EvidenceService`: the tenant's verifiable log over gRPC —
//! checkpoints, inclusion and consistency proofs, receipts.

use consent_core::{ConsentError, ConsentStore};
use consent_evidence::{EvidenceLog, LogStore};
use consent_proto::v1 as pb;
use consent_proto::v1::evidence_service_server::EvidenceService as EvidenceServiceApi;
use consentd_auth::Scope;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::authorize::authorize;
use super::to_status;

/// Implements `consent.v1.EvidenceService` over the evidence log.
#[derive(Debug, Clone)]
pub struct GrpcEvidenceService<S> {
    log: EvidenceLog<S>,
}

impl<S> GrpcEvidenceService<S> {
    /// Serves `log`.
    pub const fn new(log: EvidenceLog<S>) -> Self {
        Self { log }
    }
}

fn record_id(text: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(text).map_err(|_| to_status(ConsentError::invalid("record_id", "must be a UUID")))
}

fn size(value: i64, field: &str) -> Result<u64, Status> {
    u64::try_from(value).map_err(|_| to_status(ConsentError::invalid(field, "must not be negative")))
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[tonic::async_trait]
impl<S: LogStore + ConsentStore + Clone + 'static> EvidenceServiceApi for GrpcEvidenceService<S> {
    #[tracing::instrument(skip_all)]
    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::GetCheckpointResponse>, Status> {
        let tenant = authorize(&request, Scope::Read)?.tenant;
        let checkpoint = self.log.checkpoint(&tenant, request.get_ref().fresh).await.map_err(to_status)?;
        let public_keys = self.log.public_keys().await.map_err(to_status)?;
        Ok(Response::new(pb::GetCheckpointResponse {
            checkpoint: checkpoint.note,
            tree_size: signed(checkpoint.size),
            public_keys,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::GetInclusionProofResponse>, Status> {
        let tenant = authorize(&request, Scope::Read)?.tenant;
        let id = record_id(&request.get_ref().record_id)?;
        let tree_size = Some(size(request.get_ref().tree_size, "tree_size")?).filter(|size| *size > 0);
        let inclusion = self.log.inclusion(&tenant, id, tree_size).await.map_err(to_status)?;
        Ok(Response::new(pb::GetInclusionProofResponse {
            leaf_index: signed(inclusion.index),
            tree_size: signed(inclusion.size),
            hashes: inclusion.hashes.iter().map(|hash| hash.0.to_vec()).collect(),
            root_hash: inclusion.root.0.to_vec(),
            checkpoint: inclusion.checkpoint.unwrap_or_default(),
            leaf: inclusion.leaf,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_consistency_proof(
        &self,
        request: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::GetConsistencyProofResponse>, Status> {
        let tenant = authorize(&request, Scope::Read)?.tenant;
        let first = size(request.get_ref().first_size, "first_size")?;
        let second = size(request.get_ref().second_size, "second_size")?;
        let hashes = self.log.consistency(&tenant, first, second).await.map_err(to_status)?;
        Ok(Response::new(pb::GetConsistencyProofResponse {
            hashes: hashes.iter().map(|hash| hash.0.to_vec()).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_receipt(
        &self,
        request: Request<pb::GetReceiptRequest>,
    ) -> Result<Response<pb::GetReceiptResponse>, Status> {
        let tenant = authorize(&request, Scope::Read)?.tenant;
        let id = record_id(&request.get_ref().record_id)?;
        let receipt = self.log.receipt(&tenant, id).await.map_err(to_status)?;
        Ok(Response::new(pb::GetReceiptResponse { receipt }))
    }
}
