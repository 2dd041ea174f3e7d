export {
  type AcmeChallenge,
  CertbotError,
  type CertbotRunner,
  certbotReason,
  challengeSecrets,
  createCertbot,
  createDirectCertbot,
  createHelperCertbot,
  type IssuedFiles,
  type IssueRequest,
} from "./certbot.ts";
