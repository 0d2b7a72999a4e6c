-- Connection type kubernetes (API servers), served by the agent's kubernetes protocol.
ALTER TYPE "ConnectionType" ADD VALUE IF NOT EXISTS 'kubernetes';
