# msg: the CBOR bodies of the tier protocol (docs/protocol.md). Unit tests,
# and one fuzz target per message decoder (each also checks that a decoded
# message re-encodes to bytes that decode to an equal message).
cairn_unit(msg)
foreach(m attest_req attest_resp renew_req renew_resp bundle_resp
          federated_resp
          entries_resp revision_resp svids_req svids_resp jwt_req jwt_resp
          ds_ca_req ds_ca_resp ds_jwtkey_req ds_jwtkey_resp)
  cairn_fuzz(msg_${m})
endforeach()
