export { databaseWorkflow } from './workflow';
