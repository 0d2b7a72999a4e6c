import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { listOf, plainText } from "../../lib/schemas";
import { actorOf, principalOf } from "../../server/auth";
import { admins, anyRole, errors, noContent } from "../../server/route-helpers";
import {
  addSshKeyBody,
  certificateDto,
  listSshKeysQuery,
  signCertificateBody,
  sshCaDto,
  sshKeyDto,
} from "./ssh.schemas";
import type { SshService } from "./ssh.service";

export function sshRoutes(deps: { ssh: SshService }): FastifyPluginAsyncZod {
  const { ssh } = deps;
  const tags = ["ssh"];
  return async (app) => {
    app.post(
      "/ssh-keys",
      {
        config: { auth: anyRole },
        schema: {
          tags,
          description: "Registers one of your SSH public keys for logging in on agents' SSH listeners.",
          body: addSshKeyBody,
          response: { 201: sshKeyDto, ...errors },
        },
      },
      async (req, reply) => reply.status(201).send(await ssh.addKey(actorOf(req), req.body)),
    );
    app.get(
      "/ssh-keys",
      {
        config: { auth: anyRole },
        schema: {
          tags,
          description: "Your SSH public keys; admins and auditors may name another user.",
          querystring: listSshKeysQuery,
          response: { 200: listOf(sshKeyDto), ...errors },
        },
      },
      async (req) => ({ items: await ssh.listKeys(principalOf(req), req.query.user) }),
    );
    app.delete(
      "/ssh-keys/:id",
      {
        config: { auth: anyRole },
        schema: {
          tags,
          description:
            "Removes one of your SSH keys (admins: anyone's), by id or fingerprint, and ends the sessions it opened.",
          params: z.object({ id: plainText(100).min(1) }),
          response: { ...noContent, ...errors },
        },
      },
      async (req, reply) => {
        await ssh.removeKey(actorOf(req), req.params.id);
        return reply.status(204).send(null);
      },
    );
    app.post(
      "/ssh-certificates",
      {
        config: { auth: anyRole },
        schema: {
          tags,
          description:
            "Signs a short-lived OpenSSH user certificate for your public key (principal: your name). Agents accept it until it expires or the credential that asked for it is revoked.",
          body: signCertificateBody,
          response: { 201: certificateDto, ...errors },
        },
      },
      async (req, reply) => reply.status(201).send(await ssh.signCertificate(actorOf(req), req.body)),
    );
    app.get(
      "/ssh-ca",
      {
        config: { auth: anyRole },
        schema: {
          tags,
          description: "The public key of the CA that signs SSH user certificates.",
          response: { 200: sshCaDto, ...errors },
        },
      },
      async () => ssh.caPublicKey(),
    );
    app.post(
      "/ssh-ca/rotate",
      {
        config: { auth: admins },
        schema: {
          tags,
          description:
            "Starts signing SSH certificates with a new CA key; certificates the old key signed stay valid until they expire. Update sshd's TrustedUserCAKeys with the new public key.",
          response: { 200: sshCaDto, ...errors },
        },
      },
      async (req) => ssh.rotateCa(actorOf(req)),
    );
  };
}
