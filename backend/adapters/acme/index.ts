export {
  type AcmeChallenge,
  CertbotError,
  type CertbotRunner,
  certbotReason,
  certFileName,
  challengeSecrets,
  createCertbot,
  createDirectCertbot,
  createHelperCertbot,
  type IssuedFiles,
  type IssueRequest,
} from "./certbot.ts";
