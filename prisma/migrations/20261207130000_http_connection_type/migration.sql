-- Connection type http (internal HTTP APIs), served by the agent's http protocol.
ALTER TYPE "ConnectionType" ADD VALUE IF NOT EXISTS 'http';
